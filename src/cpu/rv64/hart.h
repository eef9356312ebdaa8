/* hart.h — one RISC-V hardware thread (vCPU) of the rv64 backend and the machine it lives in.
 *
 * Speed comes from three caches, all per hart so the hot path takes no locks:
 *   - a software TLB per privilege "view" (U, S, S+SUM, M): guest virtual page → host pointer,
 *     so a priv switch (every syscall) only switches a pointer instead of flushing;
 *   - decoded basic blocks keyed by guest physical address (struct rv64_block), validated
 *     against a per-page generation counter that stores to code pages bump (self-modifying code);
 *   - a jump cache: guest virtual pc → block, so the common case skips translation and hashing.
 */
#ifndef KILN_CPU_RV64_HART_H
#define KILN_CPU_RV64_HART_H
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include "common/cpu_quota.h"
#include "cpu/rv64/csr_bits.h"
#include "dev/bus.h"

#define RV64_MAX_HARTS   64
#define RV64_RAM_BASE    0x80000000ull
#define RV64_TIMEBASE_HZ 10000000ull

#define PRIV_U 0
#define PRIV_S 1
#define PRIV_M 3

#define TLB_BITS 8
#define TLB_SIZE (1u << TLB_BITS)
#define TLB_VIEWS 4 /* U, S, S with SUM, M */
#define JC_BITS 12
#define JC_SIZE (1u << JC_BITS)
#define BLOCK_HASH_BITS 14
#define BLOCK_MAX_INSNS 63 /* so a block spans at most 252 bytes: offsets fit in uint8_t */

struct rv64_machine;

struct tlb_entry {
    uint64_t vpage;    /* guest virtual page address, or ~0 when empty */
    uintptr_t addend;  /* host address = guest virtual address + addend */
};

struct tlb_set {
    struct tlb_entry r[TLB_SIZE], w[TLB_SIZE], x[TLB_SIZE];
};

/* The TLB of one address space (satp: mode, ASID and root). kiln implements 16 ASID bits, so
 * Linux gives each process an ASID and switches satp without flushing; a context per recent
 * address space keeps its translations across those switches. */
#define TLB_CONTEXTS 8
struct tlb_context {
    struct tlb_set set[TLB_VIEWS];
    /* Which entries of set[] (numbered in memory order) a superpage's leaf PTE filled, and
     * that page's size as a shift: sfence.vma of one address must drop every entry filled from
     * the leaf that maps it, not only the entry of its own 4 KiB page (rv64_tlb_flush_page). */
    uint64_t super[TLB_VIEWS * 3 * TLB_SIZE / 64];
    uint8_t shift[TLB_VIEWS * 3 * TLB_SIZE];
    uint64_t satp;   /* the address space it holds */
    uint64_t stamp;  /* last switched to: the least recent one is reused */
    bool filled;     /* holds entries (a flush of an empty one is skipped) */
};

/* One decoded instruction: everything the executor needs without looking at the bits again. */
struct rv64_insn {
    int32_t imm;
    uint8_t op;       /* enum rv64_op */
    uint8_t off;      /* byte offset from the block's first instruction (a block spans < 256 bytes) */
    uint8_t rd, rs1, rs2, rs3;
    uint8_t len;      /* 2 or 4 */
    uint8_t rm;       /* rounding mode / aq-rl / misc */
    uint32_t raw;     /* the instruction bits, for mtval on illegal instruction and CSR number */
};

struct rv64_block {
    uint64_t paddr;            /* guest physical address of the first instruction */
    uintptr_t host;            /* host address of the first instruction */
    uint32_t page;             /* RAM page index, for the generation check */
    struct rv64_block *next;   /* hash chain */
    uint32_t gen;              /* code-page generation when decoded */
    uint16_t count;            /* instructions */
    uint16_t bytes;            /* guest bytes covered */
    struct rv64_block *link[2]; /* successors on the same page, by RV64_LINK_* (a hint, rechecked) */
    void *jit_code;            /* its x86-64 translation (jit.h), or NULL */
    uint16_t jit_cell[2];      /* per link: where its chaining site is in that code, 0 = none */
    uint16_t jit_jmp[2];       /* per link: where that site's chain path's jmp rel32 is */
    uint8_t jit_far;           /* per link (bit): that site jumps off the page (jit.h) */
    uint16_t heat;             /* runs in the interpreter so far (translated once hot, jit.h) */
    struct rv64_insn insns[];
};

/* The jump cache: the block at a virtual pc, for indirect jumps (and the run loop). A hit is
 * trusted only if the fetch TLB still maps vpc to the host address the block was decoded from
 * (so TLB flushes invalidate entries for free), and only while no code page has been written
 * since it was made (struct rv64_machine.code_epoch: a write empties the whole cache, so a hit
 * needs neither the block nor its page's generation). Everything a hit needs is in one entry,
 * one cache line: translated code's dispatch stub (jit_translate.c) checks it inline. */
struct jc_entry {
    uint64_t vpc;
    uintptr_t host;            /* the block's host address (struct rv64_block.host) */
    void *code;                /* its translation (struct rv64_block.jit_code) once there is one */
    struct rv64_block *block;
};

/* Asynchronous requests to a hart from other threads, checked at block boundaries. */
#define REQ_TLB_FLUSH 1u
#define REQ_STOP      2u   /* leave the run loop (VM exit or pause) */
#define REQ_RECHECK   4u   /* something changed (mip, timers): re-evaluate before sleeping */

enum hart_state { HART_STARTED, HART_STOPPED, HART_START_PENDING };

struct rv64_hart {
    uint64_t x[33];           /* x[32] is a write sink: decoded writes to x0 go there */
    uint64_t pc;
    uint64_t f[32];
    uint32_t fflags, frm;
    int priv;

    /* CSR state */
    uint64_t mstatus, misa, medeleg, mideleg, mie;
    _Atomic uint64_t mip;
    uint64_t mtvec, mscratch, mepc, mcause, mtval;
    uint64_t stvec, sscratch, sepc, scause, stval, satp;
    uint64_t mcounteren, scounteren, mcountinhibit;
    uint64_t menvcfg, senvcfg;
    uint64_t stimecmp;
    _Atomic uint64_t mtimecmp;   /* the CLINT's comparator for this hart */
    uint64_t pmpcfg[2];          /* pmpcfg0 and pmpcfg2 (RV64: even numbers only) */
    uint64_t pmpaddr[16];
    uint64_t instret;            /* instructions retired */
    uint64_t cycle_offset, instret_offset; /* written values of mcycle/minstret */

    /* LR/SC: the reservation is the address and the value loaded */
    uint64_t lr_addr, lr_value;
    bool lr_valid;

    /* translation: one TLB per recent address space (rv64_tlb_switch) */
    struct tlb_context *tlbs;    /* TLB_CONTEXTS, allocated apart */
    struct tlb_context *ctx;     /* the one for satp */
    struct tlb_set *dtlb;        /* data view for the current priv/MPRV/SUM */
    struct tlb_set *itlb;        /* fetch view for the current priv */
    unsigned dview, iview;
    uint64_t tlb_clock;          /* stamps contexts when switched to (LRU) */
    unsigned walk_shift;         /* page size of rv64_translate's last answer, as a shift */

    /* decoded-block cache */
    /* allocated apart (calloc): fresh zero pages the host maps only when a bucket is used, so a
     * new vCPU (a restore builds several) costs no page faults for them */
    struct rv64_block **block_hash;   /* 1 << BLOCK_HASH_BITS buckets */
    struct jc_entry *jc;              /* JC_SIZE entries */
    uint32_t jc_epoch;                /* the machine's code_epoch its entries were made under */
    uint8_t *arena;
    size_t arena_size, arena_used;
    struct rv64_block *scratch;  /* an instruction that straddles a page: decoded, never cached */
    uint64_t block_epoch;        /* bumped when the cache is flushed */
    struct rv64_block *last_block; /* the block executed last and its start pc (for linking) */
    uint64_t last_pc;
    struct rv64_jit *jit;        /* the translator's state, NULL while it is off (jit.h) */
    uint32_t jit_mxcsr;          /* MXCSR for its inline FP: the host's control bits, RNE, no flags */
    /* the machine's code-page tables as translated code wants them (one load fewer):
     * page_gen, and code_page biased so that a host RAM address >> 12 indexes it */
    _Atomic uint32_t *page_gen;
    uintptr_t code_page_bias;
    const _Atomic uint32_t *code_epoch;

    /* run state */
    struct rv64_machine *m;
    unsigned hartid;
    _Atomic uint32_t requests;
    _Atomic int state;           /* enum hart_state (SBI HSM) */
    _Atomic bool parked;         /* waiting in the thread loop while the machine is paused */
    uint64_t start_addr, start_opaque;
    pthread_mutex_t wait_lock;
    pthread_cond_t wait_cond;
    pthread_t thread;
    unsigned trap_streak;        /* traps taken without retiring an instruction */
    int timer_countdown;
    int quota_countdown;         /* timer checks until the CPU limit is charged again */
    struct cpu_quota_vcpu quota;
    uint64_t timer_advance_ns;   /* how early WFI wakes before a timer deadline (hart.c) */
    uint64_t halt_poll_ns;       /* WFI's current halt-polling window (common/poll_window.h) */
};

/* Why the machine stopped. */
enum rv64_exit {
    RV64_EXIT_NONE = 0,
    RV64_EXIT_POWEROFF,
    RV64_EXIT_RESET,
    RV64_EXIT_FAIL,         /* finisher fail code */
    RV64_EXIT_GUEST_CRASH,  /* guest is wedged: unrecoverable trap loop or trap with no handler */
    RV64_EXIT_HOST,         /* requested by the host (console escape, signal) */
};

struct rv64_machine {
    uint8_t *ram;                  /* owned by the caller (the VM's guest_ram) */
    uint64_t ram_size;
    struct bus *bus;
    unsigned nharts;
    struct rv64_hart *harts[RV64_MAX_HARTS];
    bool sbi_mode;                 /* kiln answers SBI calls (no M-mode firmware) */

    /* self-modifying code detection, one entry per 4 KiB RAM page */
    uint8_t *code_page;
    _Atomic uint32_t *page_gen;
    _Atomic uint32_t code_epoch;   /* bumped with any page's generation: empties jump caches */

    /* Dirty-page log for Diff snapshots and pre-copy migration: one bit per 4 KiB RAM page.
     * Marked on every RAM write while dirty_tracking is on: the store slow path (which also
     * fills write TLB entries, so a fast-path store only ever hits a page already marked since
     * the last harvest), AMOs and SC, page-walk A/D updates, and device DMA. */
    _Atomic uint64_t *dirty;
    _Atomic bool dirty_tracking;

    /* the VM's CPU bandwidth limit (NULL: none), charged by each hart at block boundaries, and
     * the priority each hart thread gives itself when it starts (enum cpu_priority); both the
     * VM's, from vcpu_params (cpu/backend.h) */
    struct cpu_quota *cpu_quota;
    int vcpu_priority;

    /* the most WFI may spin before sleeping (0: never; KILN_HALT_POLL_NS, backend.c) */
    uint64_t halt_poll_max_ns;

    /* time: mtime = (host monotonic ns - time_base_ns) / 100, frozen while paused */
    uint64_t time_base_ns;

    /* console output used by the SBI debug console (shared with the UART's sink) */
    void (*console_out)(void *opaque, const uint8_t *buf, size_t len);
    void *console_opaque;

    /* pausing: harts park in their thread loop while pause_requested is set */
    pthread_mutex_t pause_lock;
    pthread_cond_t pause_cond;       /* harts wait here; the pauser waits for them to park */
    _Atomic bool pause_requested;

    /* stopping */
    pthread_mutex_t exit_lock;
    pthread_cond_t exit_cond;
    _Atomic int exit_reason;       /* enum rv64_exit */
    int exit_code;
    char crash_msg[512];
};

/* machine.c */
/* ram (ram_size bytes, page aligned) belongs to the caller and must outlive the machine. */
int rv64_machine_init(struct rv64_machine *m, uint8_t *ram, uint64_t ram_size, unsigned nharts,
                      struct bus *bus);
void rv64_machine_destroy(struct rv64_machine *m);
uint64_t rv64_time(const struct rv64_machine *m);      /* mtime, 10 MHz */
/* WFI's timer advance (hart.c): the new advance after a sleep meant to end at target_ns ended
 * at woke_ns; a moving average of the lateness, 0..RV64_TIMER_ADVANCE_MAX_NS. */
#define RV64_TIMER_ADVANCE_MAX_NS 50000ull
/* WFI's default halt-polling bound, KVM's halt_poll_ns default; KILN_HALT_POLL_NS overrides */
#define RV64_HALT_POLL_MAX_NS 200000ull
uint64_t rv64_timer_advance_learn(uint64_t advance_ns, uint64_t target_ns, uint64_t woke_ns);
uint64_t rv64_host_ns(void);
/* Stop every hart: reason and exit code recorded once (first caller wins). */
void rv64_machine_exit(struct rv64_machine *m, enum rv64_exit reason, int code);
/* Stops every vCPU at an instruction boundary and returns once all are parked (or the machine
 * stopped). Guest time keeps running: after resume the guest's clocks are right at once. */
void rv64_machine_pause(struct rv64_machine *m);
void rv64_machine_resume(struct rv64_machine *m);
/* Invalidate decoded code covering guest physical [paddr, paddr+len) (DMA writes, loaders). */
void rv64_invalidate_code(struct rv64_machine *m, uint64_t paddr, uint64_t len);
static inline bool rv64_is_ram(const struct rv64_machine *m, uint64_t paddr, uint64_t len)
{
    return paddr >= RV64_RAM_BASE && paddr - RV64_RAM_BASE < m->ram_size &&
           len <= m->ram_size - (paddr - RV64_RAM_BASE);
}
static inline void *rv64_ram_ptr(const struct rv64_machine *m, uint64_t paddr)
{
    return m->ram + (paddr - RV64_RAM_BASE);
}

/* Dirty-page tracking. enable(on) and harvest require every hart to be paused (parked by
 * rv64_machine_pause, or not running at all): they flush the harts' TLBs directly, so that a
 * write TLB entry filled before the call cannot let a later store skip the marking. Enabling
 * starts from an empty log. Device threads may keep writing RAM meanwhile: marks are atomic. */
int rv64_machine_dirty_enable(struct rv64_machine *m, bool on);
/* Copies the log into out (ceil(pages / 64) words, bit p of word p / 64 = page p) and clears it. */
void rv64_machine_dirty_harvest(struct rv64_machine *m, uint64_t *out);
void rv64_mark_dirty_range(struct rv64_machine *m, uint64_t paddr, uint64_t len);
/* Marks the RAM pages of guest physical [paddr, paddr+len) dirty (outside RAM is ignored). */
static inline void rv64_mark_dirty(struct rv64_machine *m, uint64_t paddr, uint64_t len)
{
    if (atomic_load_explicit(&m->dirty_tracking, memory_order_relaxed))
        rv64_mark_dirty_range(m, paddr, len);
}

/* state.c: save and restore of architectural state (common/persist.h). Caches, TLBs and
 * threads are not state. The harts must be paused (or not running) for both. A refused hart
 * section leaves that hart untouched; a machine whose restore failed midway must be discarded. */
struct persist_writer;
struct persist_reader;
void rv64_hart_save(const struct rv64_hart *h, struct persist_writer *w);
int rv64_hart_restore(struct rv64_hart *h, struct persist_reader *r);
void rv64_machine_save(const struct rv64_machine *m, struct persist_writer *w);
/* advance_ns: host time that passed since the save (so the guest's clock moves on by it);
 * mtime never goes backwards. Refuses state for a different hart count or RAM size. */
int rv64_machine_restore(struct rv64_machine *m, struct persist_reader *r, uint64_t advance_ns);

/* hart.c */
int rv64_hart_init(struct rv64_hart *h, struct rv64_machine *m, unsigned hartid);
void rv64_hart_destroy(struct rv64_hart *h);
void rv64_hart_reset(struct rv64_hart *h, uint64_t pc, int priv);
/* Set or clear bits of mip from any thread and wake the hart if it sleeps in WFI. */
void rv64_hart_set_mip(struct rv64_hart *h, uint64_t bits, bool level);
void rv64_hart_kick(struct rv64_hart *h, uint32_t request);
/* Run until the machine stops. Thread entry for one vCPU. */
void *rv64_hart_thread(void *arg);
/* Execute until `budget` blocks have run or the hart must stop (tests use this). */
void rv64_hart_run(struct rv64_hart *h, uint64_t budget);
/* WFI: sleep until an interrupt is pending (or a request arrives). */
void rv64_hart_wfi(struct rv64_hart *h);
/* Recompute MTIP/STIP from the comparators. */
void rv64_hart_update_timers(struct rv64_hart *h, uint64_t now);

/* trap.c */
void rv64_raise(struct rv64_hart *h, uint64_t cause, uint64_t tval);
bool rv64_check_interrupts(struct rv64_hart *h);
void rv64_mret(struct rv64_hart *h);
void rv64_sret(struct rv64_hart *h);
void rv64_set_priv(struct rv64_hart *h, int priv);
void rv64_update_views(struct rv64_hart *h);
void rv64_crash(struct rv64_hart *h, const char *why);

/* mmu.c: translation and the slow paths behind the TLB fast path */
enum access { ACC_READ = 0, ACC_WRITE = 1, ACC_EXEC = 2 };
/* every address space's translations (sfence.vma x0, x0; restores) */
void rv64_tlb_flush(struct rv64_hart *h);
/* sfence.vma with an address: drops the translations of that address only (every view and
 * address space) */
void rv64_tlb_flush_page(struct rv64_hart *h, uint64_t vaddr);
/* sfence.vma x0, asid: drops the translations of the address spaces with that ASID */
void rv64_tlb_flush_asid(struct rv64_hart *h, uint64_t asid);
/* satp changed: make its address space's context current (flushing the least recently used
 * one if none holds it) */
void rv64_tlb_switch(struct rv64_hart *h);
/* Translate vaddr for the given access. Returns 0 and the physical address, or the exception cause. */
int rv64_translate(struct rv64_hart *h, uint64_t vaddr, enum access acc, uint64_t *paddr);
bool rv64_load_slow(struct rv64_hart *h, uint64_t vaddr, unsigned size, uint64_t *val);
bool rv64_store_slow(struct rv64_hart *h, uint64_t vaddr, unsigned size, uint64_t val);
/* Host pointer for an atomic access (aligned, RAM; writable unless acc is ACC_READ for LR);
 * NULL after raising the exception. */
void *rv64_amo_ptr(struct rv64_hart *h, uint64_t vaddr, unsigned size, enum access acc);
/* Fetch: translate pc for execution; returns host pointer of the page or NULL after raising. */
bool rv64_fetch_paddr(struct rv64_hart *h, uint64_t pc, uint64_t *paddr);
void rv64_code_written(struct rv64_machine *m, uint64_t page);

/* csr.c */
bool rv64_csr_read(struct rv64_hart *h, unsigned csr, uint64_t *val);
bool rv64_csr_write(struct rv64_hart *h, unsigned csr, uint64_t val);

/* sbi.c: returns true if the ecall was handled as an SBI call */
bool rv64_sbi_call(struct rv64_hart *h);

/* exec.c */
struct rv64_block *rv64_lookup_block(struct rv64_hart *h);

/* the jump cache's entry for pc (the dispatch stub in jit_translate.c indexes it the same way) */
static inline struct jc_entry *rv64_jc_entry(struct rv64_hart *h, uint64_t pc)
{
    return &h->jc[(pc >> 1) & (JC_SIZE - 1)];
}

/* Empties the jump cache if code was written since its entries were made (the dispatch stub
 * in translated code bails while they differ, so the run loop calls this before running
 * translated code, not only on a lookup: a loop of linked blocks may never look up). */
static inline void rv64_jc_sync(struct rv64_hart *h)
{
    uint32_t epoch = atomic_load_explicit(h->code_epoch, memory_order_acquire);
    if (__builtin_expect(epoch != h->jc_epoch, 0)) {
        memset(h->jc, 0, sizeof(*h->jc) * JC_SIZE);
        h->jc_epoch = epoch;
    }
}
/* How a block ended: through a jump or taken branch, by falling through to the next
 * instruction, or in a way that must not be chained (trap, privilege or translation change). */
enum { RV64_LINK_NONE = -1, RV64_LINK_JUMP = 0, RV64_LINK_NEXT = 1 };
/* Runs b, and the blocks linked after it while no interrupt, request or timer check is due.
 * Returns how the last one ended; h->last_block and h->last_pc say which it was. */
int rv64_exec_block(struct rv64_hart *h, struct rv64_block *b);

/* prev's successor through `link` if it is cached and still valid, else NULL (see exec.c). */
static inline struct rv64_block *rv64_linked_block(struct rv64_hart *h, struct rv64_block *prev,
                                                   uint64_t prev_pc, int link)
{
    /* A successor on the same virtual page is on the same physical page whatever the mapping,
     * so the link only needs its address and code generation checked. */
    if (((h->pc ^ prev_pc) & ~0xfffull) || prev == h->scratch)
        return NULL;
    struct rv64_block *b = prev->link[link];
    uint64_t paddr = (prev->paddr & ~0xfffull) | (h->pc & 0xfff);
    if (b && b->paddr == paddr &&
        b->gen == atomic_load_explicit(&h->m->page_gen[b->page], memory_order_relaxed))
        return b;
    return NULL;
}
void rv64_flush_blocks(struct rv64_hart *h);

/* decode.c */
void rv64_decode(uint32_t bits, struct rv64_insn *in);

#endif
