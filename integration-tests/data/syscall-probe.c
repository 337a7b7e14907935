/* syscall-probe NR...: makes each syscall (arguments 0) and prints "NR=RESULT" (-errno on
 * failure). No libc, so no start-up syscalls a seccomp profile would have to allow: built
 * static by the seccomp tests (gcc -static -nostdlib). */
static long sys(long n, long a, long b, long c) {
    long r;
    __asm__ volatile ("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return r;
}
static void put(const char *s, long len) { sys(1, 1, (long)s, len); }
static long slen(const char *s) { long n = 0; while (s[n]) n++; return n; }
void cmain(long *sp) {
    long argc = sp[0];
    char **argv = (char **)(sp + 1);
    for (long i = 1; i < argc; i++) {
        long n = 0;
        for (char *p = argv[i]; *p; p++) n = n * 10 + (*p - '0');
        long r = sys(n, 0, 0, 0);
        char buf[32]; int k = 0; long v = r < 0 ? -r : r;
        char tmp[24]; int t = 0;
        do { tmp[t++] = '0' + v % 10; v /= 10; } while (v);
        if (r < 0) buf[k++] = '-';
        while (t) buf[k++] = tmp[--t];
        put(argv[i], slen(argv[i])); put("=", 1); put(buf, k); put("\n", 1);
    }
    sys(60, 0, 0, 0);
}
__asm__(".globl _start\n_start:\n mov %rsp, %rdi\n and $-16, %rsp\n call cmain\n");
