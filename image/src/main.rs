//! berth-image: registry reference in, runnable bundle out.
//!
//! Where things happen: `reference` (names), `registry` (the distribution API, auth,
//! TLS, credentials), `manifest` (manifests, indexes, platforms, layer types), `pull`
//! (fetching and checking everything, layers in parallel and streamed), `unpack` (the
//! safe layer unpacker), `store` (the content-addressed store), `bundle` (rootfs and
//! config.json), `layer` (writing a layer of changes), `commit`, `push`, `layout` (save and
//! load of OCI layout archives), `progress`, `cli`.

mod bundle;
mod cli;
mod commit;
mod digest;
mod gzip;
mod layer;
mod layout;
mod manifest;
mod progress;
mod pull;
mod push;
mod reference;
mod registry;
mod store;
mod unpack;

fn main() {
    // Files are made with the exact modes images give them (and never by other users'
    // rules): no umask, set once here, never changed (layers unpack in parallel threads).
    // SAFETY: umask on ourselves.
    unsafe { libc::umask(0) };
    std::process::exit(cli::main())
}
