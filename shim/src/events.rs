//! Events to containerd: its ttrpc Events service, one envelope per event, in the order
//! they are queued (one publisher thread).
//!
//! The crate's publisher names each event through protobuf reflection
//! (`descriptor_dyn().full_name()`), which builds the whole file descriptor pool of the
//! event protos on first use: a few hundred KiB of heap kept by every shim, for a name
//! known at compile time. Here the Any is named from the message's package and
//! `Message::NAME`.

use std::sync::mpsc::{channel, Sender};

use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::{Message, MessageField};
use containerd_shim::protos::shim::event::Envelope;
use containerd_shim::protos::shim::events::ForwardRequest;
use containerd_shim::protos::ttrpc::context::Context;
use containerd_shim::protos::{Client, EventsClient};

/// The package of containerd's task events (containerd/api/events/task.proto).
pub const EVENTS: &str = "containerd.events";

/// `m` as an Any of type `package.Name`, as typeurl names it.
pub fn any<M: Message>(package: &str, m: &M) -> Result<Any, containerd_shim::Error> {
    Ok(Any { type_url: format!("{package}.{}", M::NAME), value: m.write_to_bytes()?, ..Default::default() })
}

/// A queue of events; a thread forwards them to containerd.
pub struct Publisher(Sender<(&'static str, Any)>);

impl Publisher {
    pub fn connect(ttrpc_address: &str, namespace: &str) -> Result<Publisher, containerd_shim::Error> {
        let fd = containerd_shim::util::connect(ttrpc_address)?;
        let client = EventsClient::new(Client::new(fd)?);
        let (tx, rx) = channel::<(&'static str, Any)>();
        let ns = namespace.to_string();
        std::thread::Builder::new()
            .name("events".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                for (topic, event) in rx {
                    let envelope = Envelope {
                        timestamp: MessageField::some(crate::task::now()),
                        namespace: ns.clone(),
                        topic: topic.to_string(),
                        event: MessageField::some(event),
                        ..Default::default()
                    };
                    let req = ForwardRequest { envelope: MessageField::some(envelope), ..Default::default() };
                    if let Err(e) = client.forward(Context::default(), &req) {
                        log::warn!("publish {topic}: {e}");
                    }
                }
            })
            .map_err(|e| containerd_shim::Error::IoError { context: "start the events thread".into(), err: e })?;
        Ok(Publisher(tx))
    }

    /// A publisher that drops every event (for a service made without containerd's address).
    pub fn closed() -> Publisher {
        Publisher(channel().0)
    }

    /// Queues `event` under `topic`.
    pub fn publish<M: Message>(&self, topic: &'static str, event: M) {
        match any(EVENTS, &event) {
            Ok(a) => {
                let _ = self.0.send((topic, a));
            }
            Err(e) => log::warn!("encode {topic}: {e}"),
        }
    }
}
