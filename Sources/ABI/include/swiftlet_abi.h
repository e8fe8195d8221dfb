/*
 * swiftlet_abi.h — the whole contract between a Swiftlet tender and its guest.
 *
 * Compiled into both sides: the tenders (host Swift, via the SwiftletABI module) and the
 * guest library OS (Embedded Swift, via the same module map). Everything a guest may ask
 * of the host is a numbered hypercall taking one struct; every guest address in those
 * structs is a plain integer (swiftlet_gaddr_t) that the tender checks before use.
 *
 * Versioning: SWIFTLET_ABI_VERSION is stamped into every image (ELF note) and into boot
 * info; a tender refuses an image with another version. Structs only grow at their end.
 * Version 2 added SWIFTLET_HC_SHUTDOWN_WATCH and SWIFTLET_POLL_SHUTDOWN: an image that asks a
 * version-1 tender to watch for shutdown would be ended for an unknown hypercall, so it says
 * at once that it needs a newer tender instead. Version 2 also serves block devices
 * (BLOCK_READ, BLOCK_WRITE, which version 1 only reserved) and added SWIFTLET_HC_BLOCK_FLUSH.
 * Version 3 added SWIFTLET_HC_BLOCK_BATCH (several block requests per exit) and
 * SWIFTLET_R_SKIPPED; it also moved the boot info and the image down (the stack was 956 KiB,
 * where guests use tens of KiB) and lowered SWIFTLET_MEM_MIN to 2 MiB: images are linked at
 * the new address; and network offload: swiftlet_device.net_features,
 * SWIFTLET_HC_NET_CONFIGURE, and per-frame offload metadata (swiftlet_frame grew
 * swiftlet_net_offload at its end).
 * Version 4 added exitless network rings (SWIFTLET_NET_F_RINGS, SWIFTLET_HC_NET_ATTACH_RINGS,
 * SWIFTLET_HC_NET_KICK, struct swiftlet_net_rings) for hvt.
 */
#ifndef SWIFTLET_ABI_H
#define SWIFTLET_ABI_H

#include <stdint.h>

#define SWIFTLET_ABI_VERSION 4u

/* ---- Guest address space (identical on every target) ------------------------------
 *
 *   GUEST_BASE + 0x0000_0000  guard page (never mapped)
 *   GUEST_BASE + 0x0000_1000  stack, grows down from STACK_TOP (252 KiB; the web example with
 *                             HTTPS and JSON peaks under 16 KiB)
 *   GUEST_BASE + 0x0004_0000  boot info, then the argument block (read-only to the guest)
 *   GUEST_BASE + 0x0005_0000  image (PT_LOAD segments, linked here)
 *   image end .. mem_size     heap
 *
 * Guest memory is one contiguous range [GUEST_BASE, GUEST_BASE + mem_size).
 * On hvt it is guest-physical [0, mem_size) mapped at GUEST_BASE; on spt it is mapped
 * at GUEST_BASE in the tender process.
 */
#define SWIFTLET_GUEST_BASE        0x100000000ull
#define SWIFTLET_STACK_BOTTOM      0x1000ull
#define SWIFTLET_STACK_TOP         0x40000ull
#define SWIFTLET_BOOTINFO_OFFSET   0x40000ull
#define SWIFTLET_BOOTINFO_SIZE     0x10000ull
#define SWIFTLET_IMAGE_OFFSET      0x50000ull
#define SWIFTLET_MEM_MIN           (2ull << 20)
#define SWIFTLET_MEM_MAX           (4ull << 30)

typedef uint64_t swiftlet_gaddr_t; /* a guest address: never dereferenced by a tender */

/* ---- Image identification: ELF note "Swiftlet", type SWIFTLET_NOTE_ABI --------------- */
#define SWIFTLET_NOTE_NAME   "Swiftlet"
#define SWIFTLET_NOTE_ABI    0x53574654u /* 'SWFT' */

#define SWIFTLET_TARGET_HVT    (1u << 0)
#define SWIFTLET_TARGET_SPT    (1u << 1)
#define SWIFTLET_TARGET_VIRTIO (1u << 2)

struct swiftlet_note_abi {
    uint32_t abi_version;
    uint32_t targets;        /* SWIFTLET_TARGET_* bits the image may run on */
};

/* The tenders carry a note of the same name, type SWIFTLET_NOTE_TENDER, whose descriptor is
 * the uint32_t ABI version they speak: `swiftlet run` reads it to rebuild a checkout's release
 * tenders that an update of the sources left speaking another version. */
#define SWIFTLET_NOTE_TENDER 0x53574454u /* 'SWDT' */

/* ---- Boot info: written by the tender at GUEST_BASE + BOOTINFO_OFFSET ------------------ */
#define SWIFTLET_BOOT_MAGIC   0x544C4654u /* 'TFLT' */
#define SWIFTLET_MAX_DEVICES  8u
#define SWIFTLET_DEVICE_NAME_MAX 16u

enum swiftlet_device_kind {
    SWIFTLET_DEVICE_NET   = 1,
    SWIFTLET_DEVICE_BLOCK = 2,
};

struct swiftlet_device {
    uint32_t kind;                              /* swiftlet_device_kind */
    uint32_t handle;                            /* index in devices[]; bit in poll ready set */
    char     name[SWIFTLET_DEVICE_NAME_MAX];    /* NUL-terminated */
    uint8_t  mac[6];                            /* net */
    uint16_t mtu;                               /* net */
    uint32_t block_size;                        /* block */
    uint32_t net_features;                      /* net: SWIFTLET_NET_F_* the backend offers
                                                   (ABI 3; padding before) */
    uint64_t capacity;                          /* block: bytes */
};

struct swiftlet_boot_info {
    uint32_t magic;
    uint32_t abi_version;
    uint32_t target;            /* the SWIFTLET_TARGET_* bit of the tender running us */
    uint32_t flags;             /* reserved, 0 */
    uint64_t mem_size;          /* bytes, from GUEST_BASE */
    swiftlet_gaddr_t heap_start;
    swiftlet_gaddr_t heap_end;
    swiftlet_gaddr_t argv_block;/* argc NUL-terminated strings, back to back */
    uint32_t argc;
    uint32_t argv_block_len;
    uint64_t tsc_hz;            /* 0: no usable TSC, use SWIFTLET_HC_MONOTONIC */
    uint64_t hypercall_entry;   /* spt: host function to call; virtio: the image's own
                                   dispatcher (CPL3); hvt: 0 (a store to the hypercall page) */
    uint8_t  random_seed[32];   /* fresh from the host's getrandom() on every boot */
    uint32_t device_count;
    uint32_t reserved;
    struct swiftlet_device devices[SWIFTLET_MAX_DEVICES];
    uint64_t stack_guard;       /* fresh from getrandom(): the canary of C code built with a
                                   stack protector (BearSSL). hvt points the guest's FS base at
                                   stack_guard - 0x28, where such code reads it (%fs:0x28); on
                                   spt the guest runs on the tender's thread and reads its own. */
};
#define SWIFTLET_STACK_GUARD_FS_OFFSET 0x28u

/* ---- Hypercalls ---------------------------------------------------------------------
 * hvt: store the struct's address to SWIFTLET_HVT_HYPERCALL_PAGE + 8 * number, a page with
 *      no memory behind it: the store exits to the tender (KVM_EXIT_MMIO). Port I/O would
 *      be cheaper, but KVM-PVM hosts refuse it at CPL3 whatever RFLAGS.IOPL says.
 * spt: call boot_info.hypercall_entry(number, struct address).
 * Each struct has IN fields the guest fills and OUT fields the tender fills.
 */
#define SWIFTLET_HVT_HYPERCALL_PAGE 0x80000000ull

enum swiftlet_hypercall {
    SWIFTLET_HC_WALLTIME    = 1,
    SWIFTLET_HC_MONOTONIC   = 2,
    SWIFTLET_HC_CONSOLE     = 3,
    SWIFTLET_HC_POLL        = 4,
    SWIFTLET_HC_NET_WRITE   = 5,
    SWIFTLET_HC_NET_READ    = 6,
    SWIFTLET_HC_BLOCK_READ  = 7,
    SWIFTLET_HC_BLOCK_WRITE = 8,
    SWIFTLET_HC_HALT        = 9,
    SWIFTLET_HC_NET_EXCHANGE = 10,
    SWIFTLET_HC_SHUTDOWN_WATCH = 11,
    SWIFTLET_HC_BLOCK_FLUSH = 12,
    SWIFTLET_HC_BLOCK_BATCH = 13,
    SWIFTLET_HC_NET_CONFIGURE = 14,
    SWIFTLET_HC_NET_ATTACH_RINGS = 15,
    SWIFTLET_HC_NET_KICK    = 16,
    SWIFTLET_HC_MAX         = 16,
};

enum swiftlet_result {
    SWIFTLET_R_OK       = 0,
    SWIFTLET_R_AGAIN    = 1, /* nothing to read now */
    SWIFTLET_R_EINVAL   = 2, /* an argument was refused (bad address, length, handle) */
    SWIFTLET_R_ENODEV   = 3, /* no such device */
    SWIFTLET_R_EIO      = 4, /* the host side failed */
    SWIFTLET_R_SKIPPED  = 5, /* not attempted: another request of its batch was refused or failed */
};

struct swiftlet_hc_time {          /* WALLTIME, MONOTONIC */
    uint64_t nanoseconds;          /* OUT: since the Unix epoch / since an arbitrary origin */
};

struct swiftlet_hc_console {       /* CONSOLE */
    swiftlet_gaddr_t data;         /* IN */
    uint64_t length;               /* IN: at most SWIFTLET_CONSOLE_MAX */
    int32_t  result;               /* OUT: swiftlet_result */
    uint32_t _pad;
};
#define SWIFTLET_CONSOLE_MAX 65536u

struct swiftlet_hc_poll {          /* POLL: sleep until a device has input or the timeout */
    uint64_t timeout;              /* IN: nanoseconds at most; 0 = do not sleep. Relative, so
                                      guest and tender clocks need not agree. */
    uint64_t ready_set;            /* OUT: bit `handle` set for each device with input, and
                                      SWIFTLET_POLL_SHUTDOWN */
};
/* In every ready set once a shutdown was requested (never a device handle: there are at most
 * SWIFTLET_MAX_DEVICES). The request wakes a sleeping POLL or NET_EXCHANGE once; after that the
 * bit is only reported, so a guest that keeps working while it drains does not spin. */
#define SWIFTLET_POLL_SHUTDOWN (1ull << 63)

/* SHUTDOWN_WATCH: the guest handles shutdown requests itself. Until it makes this call, SIGTERM
 * or SIGINT to the tender ends the guest at once, as it ends any process. After it, the first
 * such signal becomes SWIFTLET_POLL_SHUTDOWN, and the guest has grace_period ns to exit (status
 * 0 when it drained cleanly); a second signal, or the end of the grace period, ends it at once,
 * killed by that signal (exit status 128 + N in a shell or container runtime: 143 for
 * SIGTERM, 130 for SIGINT). A grace period of 0 means no waiting: the signal ends the guest. */
struct swiftlet_hc_shutdown_watch {
    uint64_t grace_period;         /* OUT: nanoseconds; 0 when shutdown cannot be watched here
                                      (the signal ends the guest at once) */
};

/* ---- Network offload (ABI 3) --------------------------------------------------------
 * A device whose backend can take and give frames larger than the MTU with partial checksums
 * (a tap opened with IFF_VNET_HDR) offers SWIFTLET_NET_F_OFFLOAD in net_features. Nothing
 * changes until the guest enables it with NET_CONFIGURE; from then on every frame on that
 * device carries swiftlet_net_offload in its descriptor, both ways:
 *  - write: a TCP/IPv4 frame of up to SWIFTLET_NET_OFFLOAD_FRAME_MAX bytes with gso_type TCPV4
 *    and gso_size = the connection's MSS is cut by the host into segments of gso_size payload
 *    bytes; with NEEDS_CSUM the guest has put only the pseudo-header sum at csum_start +
 *    csum_offset and the host completes the checksum over the bytes from csum_start. Any other
 *    frame is at most MTU + 14 bytes with gso_type NONE and gso_size 0.
 *  - read: frames may be up to SWIFTLET_NET_OFFLOAD_FRAME_MAX bytes (merged TCP segments, gso
 *    fields saying how they were cut); NEEDS_CSUM (checksum left partial by a sender on the
 *    host) and DATA_VALID (checked by the host) both mean: do not verify the checksum.
 * The tender refuses (EINVAL, the frame and the rest of its batch unsent) a written frame whose
 * metadata breaks these rules: unknown flags or gso_type, DATA_VALID, a GSO frame without
 * NEEDS_CSUM, gso_size below SWIFTLET_NET_GSO_SIZE_MIN (which bounds the segments one frame
 * makes) or not below the frame's length, a checksum field outside the frame,
 * header_length past the frame; and any nonzero metadata on a device without offload enabled.
 * The values are virtio-net's (virtio 1.2 §5.1.6, struct virtio_net_hdr). */
#define SWIFTLET_NET_F_OFFLOAD (1u << 0)

#define SWIFTLET_NET_OFFLOAD_NEEDS_CSUM 1u
#define SWIFTLET_NET_OFFLOAD_DATA_VALID 2u
#define SWIFTLET_NET_GSO_NONE  0u
#define SWIFTLET_NET_GSO_TCPV4 1u
/* RFC 9293's default MSS: a connection with a smaller one sends plain frames. */
#define SWIFTLET_NET_GSO_SIZE_MIN 536u
/* Ethernet header plus the largest IPv4 packet. */
#define SWIFTLET_NET_OFFLOAD_FRAME_MAX (14u + 65535u)

struct swiftlet_net_offload {
    uint8_t  flags;                /* SWIFTLET_NET_OFFLOAD_* */
    uint8_t  gso_type;             /* SWIFTLET_NET_GSO_* */
    uint16_t header_length;        /* Ethernet + IP + TCP header bytes (a hint; may be 0) */
    uint16_t gso_size;             /* payload bytes per segment the frame is cut into */
    uint16_t csum_start;           /* NEEDS_CSUM: the sum covers the frame from here ... */
    uint16_t csum_offset;          /* ... and is stored at csum_start + csum_offset */
};

struct swiftlet_frame {            /* one network frame buffer */
    swiftlet_gaddr_t data;
    uint32_t length;               /* write: IN; read: OUT bytes received */
    uint32_t capacity;             /* read: IN buffer size */
    struct swiftlet_net_offload offload; /* ABI 3: write: IN; read: OUT; all 0 unless enabled */
};                                 /* 32 bytes: 6 of padding at the end */

struct swiftlet_hc_net_configure { /* NET_CONFIGURE: enable features the device offers */
    uint32_t handle;               /* IN */
    uint32_t features;             /* IN: SWIFTLET_NET_F_* wanted, a subset of net_features */
    int32_t  result;               /* OUT: OK; EINVAL for a feature not offered (nothing
                                      changes); ENODEV; EIO if the host refused */
    uint32_t _pad;
};

struct swiftlet_hc_net {           /* NET_WRITE, NET_READ: many frames per exit */
    uint32_t handle;               /* IN */
    uint32_t count;                /* IN: number of swiftlet_frame at `frames`, <= 64 */
    swiftlet_gaddr_t frames;       /* IN */
    uint32_t completed;            /* OUT: frames written / filled */
    int32_t  result;               /* OUT */
};
#define SWIFTLET_NET_BATCH_MAX 64u

struct swiftlet_hc_net_exchange {  /* NET_EXCHANGE: one turn of a network loop in one exit.
                                      The tender does NET_WRITE with `write`, then POLL with
                                      `timeout`, then NET_READ with `read` if read.handle has
                                      input (else read.completed = 0, result AGAIN). Each part
                                      reports as its own hypercall would. */
    struct swiftlet_hc_net write;  /* IN/OUT; count 0 sends nothing */
    struct swiftlet_hc_net read;   /* IN/OUT */
    uint64_t timeout;              /* IN: as POLL */
    uint64_t ready_set;            /* OUT: as POLL */
};

/* ---- Exitless network rings (ABI 4) -------------------------------------------------
 * A VM exit costs tens of microseconds on KVM-PVM hosts (bench/WEB.md, "Exitless rings"). A
 * device that offers SWIFTLET_NET_F_RINGS (hvt, when the tender has a CPU for its I/O
 * thread) can instead move frames through two rings in guest memory, served by a tender thread
 * while the guest runs. The guest attaches them with NET_ATTACH_RINGS; from then on the device
 * belongs to the rings (NET_READ and NET_WRITE on it are refused with EINVAL), and POLL reports
 * its handle while the RX ring holds frames.
 *  - RX: slot i % size of rx[] is a buffer the guest posted (data, capacity). The tender fills
 *    the slot at rx_produced (length and offload, as NET_READ would) and then advances
 *    rx_produced; the guest reads slots up to it and advances rx_consumed to give them back.
 *  - TX: the guest fills the slot at tx_produced (data, length, offload, as NET_WRITE's rules)
 *    and advances tx_produced; the tender sends it and advances tx_consumed, after which the
 *    guest may reuse the slot's buffer.
 * Indices run freely (mod 2^32); a ring holds at most `size` slots in flight. Each side writes
 * only its own indices, with release order after the slot, and reads the other side's with
 * acquire order (swiftlet_ring_load / swiftlet_ring_store below).
 * Notification: while the tender's I/O thread sleeps it sets tender_waits, then looks at the
 * rings once more. A guest that advanced tx_produced while WAKE_TX is set, or rx_consumed while
 * WAKE_RX is set, stores anything to the NET_KICK slot (on hvt an ioeventfd: the kernel wakes
 * the thread without an exit to the tender). Otherwise no notification is needed. A sleeping
 * guest is woken by its POLL.
 * The tender reads each slot once into its own memory and checks that copy. An index out of
 * range (more than `size` ahead of the other side), a buffer outside guest-writable memory or a
 * frame that NET_WRITE would refuse stop the rings: the guest is ended at its next exit with a
 * message that says what was refused. */
#define SWIFTLET_NET_F_RINGS (1u << 1)
#define SWIFTLET_NET_RING_SIZE_MAX 256u
#define SWIFTLET_NET_RING_WAKE_TX 1u   /* tender_waits: kick after advancing tx_produced */
#define SWIFTLET_NET_RING_WAKE_RX 2u   /* tender_waits: kick after advancing rx_consumed (RX was full) */

struct swiftlet_net_rings {        /* guest-writable, 64-byte aligned, SWIFTLET_NET_RINGS_BYTES(size) */
    uint32_t rx_produced;          /* tender */
    uint32_t tx_consumed;          /* tender */
    uint32_t tender_waits;         /* tender: SWIFTLET_NET_RING_WAKE_* while its I/O thread sleeps */
    uint32_t _tender_pad[13];      /* the guest's indices on their own cache line */
    uint32_t rx_consumed;          /* guest */
    uint32_t tx_produced;          /* guest */
    uint32_t _guest_pad[14];
    /* then struct swiftlet_frame rx[size], tx[size] */
};
#define SWIFTLET_NET_RINGS_BYTES(size) \
    (sizeof(struct swiftlet_net_rings) + 2ull * (size) * sizeof(struct swiftlet_frame))

struct swiftlet_hc_net_attach_rings { /* NET_ATTACH_RINGS */
    uint32_t handle;               /* IN */
    uint32_t size;                 /* IN: slots per ring, a power of two, 1...SWIFTLET_NET_RING_SIZE_MAX */
    swiftlet_gaddr_t rings;        /* IN: struct swiftlet_net_rings; the tender zeroes its indices
                                      and reads the guest's as 0 */
    int32_t  result;               /* OUT: OK; EINVAL (not offered, already attached, bad size,
                                      address or alignment: nothing changes); ENODEV */
    uint32_t spin_us;              /* OUT: microseconds a guest with nothing to do should keep
                                      looking at its RX ring before it sleeps in POLL: a frame
                                      within them costs no exit (the tender's --rings=US) */
};

struct swiftlet_hc_block {         /* BLOCK_READ, BLOCK_WRITE, BLOCK_FLUSH */
    uint32_t handle;               /* IN */
    uint32_t _pad;
    uint64_t offset;               /* IN: bytes, multiple of block_size (FLUSH: ignored) */
    swiftlet_gaddr_t data;         /* IN: READ: guest-writable; WRITE: guest-readable */
    uint64_t length;               /* IN: bytes, a multiple of block_size, 1 block to
                                      SWIFTLET_BLOCK_IO_MAX; offset + length <= capacity */
    int32_t  result;               /* OUT: EINVAL for any request outside those rules, with
                                      nothing read or written; EIO if the host failed */
    uint32_t _pad2;
};
/* A request moves at most this many bytes (bounds the tender's work per exit). */
#define SWIFTLET_BLOCK_IO_MAX (1u << 20)
/* Writes a tender has acknowledged may still sit in the host's cache: they survive the guest
 * or the tender dying (even by SIGKILL), not the host losing power. BLOCK_FLUSH (ABI 2)
 * returns once every write acknowledged before it is on stable storage (fdatasync). */

/* BLOCK_BATCH (ABI 3): up to SWIFTLET_BLOCK_BATCH_MAX requests on one device in one exit.
 * The tender first checks the batch whole: `count` in 1...SWIFTLET_BLOCK_BATCH_MAX, the array
 * inside guest-writable memory, and every request by the rules of swiftlet_hc_block (a known
 * op; READ/WRITE with their offset, length and buffer rules). If anything is refused, nothing
 * is read, written or flushed: the batch's result is EINVAL, each refused request's EINVAL and
 * every other request's SKIPPED (when the array itself is refused, nothing in it is written).
 * Otherwise the requests run in order, each done before the next starts (a FLUSH is a barrier:
 * it makes durable every write before it, in this batch or earlier). If one fails (EIO), the
 * ones after it are SKIPPED and the batch's result is EIO. `completed` counts the requests
 * done (OK). The array is written back after the last request ran: a READ into it is
 * overwritten by the results. */
enum swiftlet_block_op {
    SWIFTLET_BLOCK_OP_READ  = 1,
    SWIFTLET_BLOCK_OP_WRITE = 2,
    SWIFTLET_BLOCK_OP_FLUSH = 3,   /* offset, data and length ignored */
};

struct swiftlet_block_request {    /* one request of a BLOCK_BATCH */
    uint32_t op;                   /* IN: swiftlet_block_op */
    int32_t  result;               /* OUT: swiftlet_result */
    uint64_t offset;               /* IN: as swiftlet_hc_block */
    swiftlet_gaddr_t data;         /* IN: as swiftlet_hc_block */
    uint64_t length;               /* IN: as swiftlet_hc_block */
};

struct swiftlet_hc_block_batch {   /* BLOCK_BATCH */
    uint32_t handle;               /* IN */
    uint32_t count;                /* IN: 1...SWIFTLET_BLOCK_BATCH_MAX */
    swiftlet_gaddr_t requests;     /* IN: `count` swiftlet_block_request, guest-writable */
    uint32_t completed;            /* OUT: requests done */
    int32_t  result;               /* OUT: OK when all were done; else as described above;
                                      ENODEV (nothing written in the array) for no such device */
};
/* Bounds one exit's work: at most this many requests of at most SWIFTLET_BLOCK_IO_MAX each. */
#define SWIFTLET_BLOCK_BATCH_MAX 32u

enum swiftlet_crash_kind {
    SWIFTLET_CRASH_NONE   = 0,
    SWIFTLET_CRASH_TRAP   = 1,     /* Swift runtime trap reported by the guest */
    SWIFTLET_CRASH_OOM    = 2,     /* allocator could not satisfy a request */
    SWIFTLET_CRASH_ABORT  = 3,     /* other guest-detected fatal condition */
};

struct swiftlet_crash_record {
    uint32_t kind;                 /* swiftlet_crash_kind */
    uint32_t message_length;       /* at most SWIFTLET_CRASH_MESSAGE_MAX */
    swiftlet_gaddr_t message;      /* UTF-8, not NUL-terminated */
    uint64_t rip;                  /* where the guest noticed the crash */
    uint64_t rbp;                  /* its frame pointer, for the backtrace */
};
#define SWIFTLET_CRASH_MESSAGE_MAX 1024u

struct swiftlet_hc_halt {          /* HALT: never returns */
    int32_t  status;               /* IN: 0..254 exit status */
    uint32_t _pad;
    swiftlet_gaddr_t crash;        /* IN: swiftlet_crash_record or 0 */
};

/* Exit statuses a tender itself uses (as `docker run` does for its own failures). */
#define SWIFTLET_EXIT_CRASH        255
#define SWIFTLET_EXIT_TENDER_ERROR 125

/* ---- virtio: the image is a PVH kernel that QEMU or Firecracker boots ----------------
 * No tender: a ring-0 shim in the image (Sources/Guest/Freestanding/Virtio/pvh.S) enters the
 * application at CPL3 with the same boot info, and `hypercall_entry` is an in-image CPL3
 * dispatcher (Sources/Guest/PVH) serving the hypercalls above with virtio and legacy devices.
 * Guest address GUEST_BASE + x is guest-physical SWIFTLET_VIRTIO_PHYS_BASE + x (the first
 * 2 MiB of guest-physical memory stay with the firmware: real-mode area, VGA hole, ROMs). */
#define SWIFTLET_VIRTIO_PHYS_BASE      0x200000ull
#define SWIFTLET_VIRTIO_PHYS_LIMIT     0x80000000ull /* guest RAM is used below this (2 GiB) */
#define SWIFTLET_VIRTIO_LOW_WINDOW     0x40000000ull /* guest-physical [0, 2 MiB), read-only */
#define SWIFTLET_VIRTIO_LOW_WINDOW_SIZE 0x200000ull
#define SWIFTLET_VIRTIO_MMIO_BASE      0x80000000ull /* [2 GiB, 4 GiB) identity, uncached */
/* What needs CPL0 is a shim call: `int $SWIFTLET_VIRTIO_SYS_VECTOR`, %eax = number. */
#define SWIFTLET_VIRTIO_SYS_VECTOR     0x80
#define SWIFTLET_VIRTIO_SYS_OUTS       1   /* (port, bytes, count): rep outsb */
#define SWIFTLET_VIRTIO_SYS_HALT       2   /* (ns, 0 = no timer) -> interrupts seen, bit v-32 */
#define SWIFTLET_VIRTIO_SYS_IN8        3   /* (port) -> byte */
#define SWIFTLET_VIRTIO_SYS_OUT8       4   /* (port, byte) */
#define SWIFTLET_VIRTIO_SYS_EXIT       5   /* (isa-debug-exit value): never returns */
#define SWIFTLET_VIRTIO_SYS_WRMSR      6   /* (msr, value): kvmclock registration only */
/* Exit: QEMU's isa-debug-exit (port 0xf4) ends QEMU with status value * 2 + 1, so the value
 * written is status + 1 for statuses 0...SWIFTLET_VIRTIO_EXIT_STATUS_MAX (QEMU exits 3...249,
 * never 0 or 1, which QEMU uses itself); SWIFTLET_EXIT_CRASH is written as
 * SWIFTLET_VIRTIO_EXIT_CRASH_VALUE (QEMU exits 255); any other status as
 * SWIFTLET_VIRTIO_EXIT_OTHER_VALUE (QEMU exits 253) after a console line "swiftlet-exit N".
 * `swiftlet run` maps these back. Without isa-debug-exit (Firecracker) the i8042 reset follows. */
#define SWIFTLET_VIRTIO_EXIT_STATUS_MAX  123
#define SWIFTLET_VIRTIO_EXIT_OTHER_VALUE 126
#define SWIFTLET_VIRTIO_EXIT_CRASH_VALUE 127

/* ---- Guest-side transport ---------------------------------------------------------- */
#if defined(__x86_64__)
static inline void swiftlet_hvt_hypercall(uint32_t number, uint64_t arg) {
    uint64_t slot = SWIFTLET_HVT_HYPERCALL_PAGE + 8ull * number;
    __asm__ __volatile__("movq %1, (%0)" : : "r"(slot), "r"(arg) : "memory");
}

typedef void (*swiftlet_spt_entry_t)(uint32_t number, uint64_t arg);

static inline void swiftlet_spt_hypercall(uint64_t entry, uint32_t number, uint64_t arg) {
    ((swiftlet_spt_entry_t)(uintptr_t)entry)(number, arg);
}

static inline uint64_t swiftlet_rdtsc(void) {
    uint32_t lo, hi;
    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

/* Ring indices (both sides): acquire loads, release stores, and the full fence a side needs
 * between publishing its index and reading whether the other side sleeps. */
static inline uint32_t swiftlet_ring_load(const uint32_t *index) {
    return __atomic_load_n(index, __ATOMIC_ACQUIRE);
}

static inline void swiftlet_ring_store(uint32_t *index, uint32_t value) {
    __atomic_store_n(index, value, __ATOMIC_RELEASE);
}

static inline void swiftlet_ring_fence(void) {
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static inline uint64_t swiftlet_frame_address(void) {
    return (uint64_t)(uintptr_t)__builtin_frame_address(0);
}
#endif

#endif /* SWIFTLET_ABI_H */
