/* i8042.c — the PS/2 controller stub (see i8042.h). Enough of the controller and keyboard
 * protocol for Linux's i8042 and atkbd drivers to find a keyboard: self tests pass, the keyboard
 * acknowledges its commands and identifies as an MF2 keyboard. */
#include <string.h>
#include "common/persist.h"
#include "dev/i8042.h"

/* status register */
#define ST_OBF      0x01   /* output buffer full: a byte waits at 0x60 */
#define ST_SYS      0x04   /* system flag: POST passed */
#define ST_CMD      0x08   /* the last write was to 0x64 */
#define ST_UNLOCKED 0x10   /* the keyboard is not inhibited (keylock off) */
/* configuration byte */
#define CTR_KBD_INT 0x01   /* keyboard interrupt enabled */
#define CTR_SYS     0x04
#define CTR_KBD_DIS 0x10
#define CTR_AUX_DIS 0x20
/* controller commands */
#define CMD_READ_CTR   0x20
#define CMD_WRITE_CTR  0x60
#define CMD_AUX_DIS    0xa7
#define CMD_AUX_EN     0xa8
#define CMD_AUX_TEST   0xa9
#define CMD_SELF_TEST  0xaa
#define CMD_KBD_TEST   0xab
#define CMD_KBD_DIS    0xad
#define CMD_KBD_EN     0xae
#define CMD_READ_OUT   0xd0
#define CMD_WRITE_OUT  0xd1
#define CMD_WRITE_KBD_OUT 0xd2  /* loop a byte back as if the keyboard sent it */
#define CMD_WRITE_AUX_OUT 0xd3
#define CMD_WRITE_AUX  0xd4
#define CMD_PULSE_RESET 0xfe
/* keyboard commands and answers */
#define KBD_SET_LEDS   0xed
#define KBD_ECHO       0xee
#define KBD_SCANCODE   0xf0
#define KBD_IDENTIFY   0xf2
#define KBD_TYPEMATIC  0xf3
#define KBD_RESET      0xff
#define KBD_ACK        0xfa
#define KBD_BAT_OK     0xaa

static void update_irq(struct i8042 *k)
{
    irq_set(&k->kbd_irq, (k->status & ST_OBF) && (k->ctr & CTR_KBD_INT));
}

static bool push(struct i8042 *k, uint8_t b)
{
    if (k->count == I8042_BUF)
        return false;
    k->buf[(k->head + k->count++) % I8042_BUF] = b;
    k->status |= ST_OBF;
    return true;
}

static uint8_t pop(struct i8042 *k)
{
    if (!k->count)
        return 0;
    uint8_t b = k->buf[k->head];
    k->head = (k->head + 1) % I8042_BUF;
    if (--k->count == 0)
        k->status &= ~ST_OBF;
    return b;
}

static void kbd_write(struct i8042 *k, uint8_t v)
{
    if (k->pending_kbd) {           /* the argument of LEDs, scan code set, typematic */
        uint8_t cmd = k->pending_kbd;
        k->pending_kbd = 0;
        push(k, KBD_ACK);
        if (cmd == KBD_SCANCODE && v == 0)
            push(k, 0x02);          /* "get scan code set": set 2 */
        return;
    }
    switch (v) {
    case KBD_SET_LEDS:
    case KBD_SCANCODE:
    case KBD_TYPEMATIC:
        k->pending_kbd = v;
        push(k, KBD_ACK);
        break;
    case KBD_ECHO:
        push(k, KBD_ECHO);
        break;
    case KBD_IDENTIFY:
        push(k, KBD_ACK);
        push(k, 0xab);              /* MF2 keyboard */
        push(k, 0x83);
        break;
    case KBD_RESET:
        push(k, KBD_ACK);
        push(k, KBD_BAT_OK);
        break;
    default:                        /* enable, disable, defaults, ...: acknowledged */
        push(k, KBD_ACK);
        break;
    }
}

/* A controller command's data byte, written to 0x60. Returns true for a reset request. */
static bool data_write(struct i8042 *k, uint8_t v)
{
    uint8_t cmd = k->pending_cmd;
    k->pending_cmd = 0;
    switch (cmd) {
    case CMD_WRITE_CTR:
        k->ctr = v;
        break;
    case CMD_WRITE_OUT:
        k->outport = v;
        return !(v & 1);            /* bit 0 is the CPU reset line, active low */
    case CMD_WRITE_KBD_OUT:
        push(k, v);
        break;
    case CMD_WRITE_AUX_OUT:
    case CMD_WRITE_AUX:
        break;                      /* no mouse */
    default:
        kbd_write(k, v);
        break;
    }
    return false;
}

/* Returns true for a reset request. */
static bool command(struct i8042 *k, uint8_t v)
{
    switch (v) {
    case CMD_READ_CTR: push(k, k->ctr); break;
    case CMD_WRITE_CTR:
    case CMD_WRITE_OUT:
    case CMD_WRITE_KBD_OUT:
    case CMD_WRITE_AUX_OUT:
    case CMD_WRITE_AUX:
        k->pending_cmd = v;
        break;
    case CMD_AUX_DIS: k->ctr |= CTR_AUX_DIS; break;
    case CMD_AUX_EN: k->ctr &= ~CTR_AUX_DIS; break;
    case CMD_AUX_TEST: push(k, 0xff); break;     /* "clock line stuck": there is no aux port */
    case CMD_SELF_TEST: push(k, 0x55); break;    /* passed */
    case CMD_KBD_TEST: push(k, 0x00); break;     /* no error */
    case CMD_KBD_DIS: k->ctr |= CTR_KBD_DIS; break;
    case CMD_KBD_EN: k->ctr &= ~CTR_KBD_DIS; break;
    case CMD_READ_OUT: push(k, k->outport); break;
    case CMD_PULSE_RESET: return true;
    default: break;                              /* unknown commands are ignored, as on PCs */
    }
    return false;
}

static uint64_t i8042_read(void *opaque, uint64_t offset, unsigned size)
{
    struct i8042 *k = opaque;
    uint8_t v = 0xff;               /* 0x61-0x63 are not this device's */
    (void)size;
    pthread_mutex_lock(&k->lock);
    if (offset == 0) {
        v = pop(k);
        /* IRQ 1 is edge triggered (ISA): drop the line so the next byte makes a new edge */
        irq_set(&k->kbd_irq, false);
        update_irq(k);
    } else if (offset == 4) {
        v = k->status;
    }
    pthread_mutex_unlock(&k->lock);
    return v;
}

static void i8042_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    struct i8042 *k = opaque;
    bool reset = false;
    (void)size;
    pthread_mutex_lock(&k->lock);
    if (offset == 0) {
        k->status &= ~ST_CMD;
        reset = data_write(k, (uint8_t)value);
    } else if (offset == 4) {
        k->status |= ST_CMD;
        reset = command(k, (uint8_t)value);
    }
    update_irq(k);
    pthread_mutex_unlock(&k->lock);
    if (reset && k->reset)
        k->reset(k->reset_opaque);
}

void i8042_init(struct i8042 *k, struct irq_line kbd_irq, void (*reset)(void *opaque),
                void *reset_opaque)
{
    memset(k, 0, sizeof(*k));
    pthread_mutex_init(&k->lock, NULL);
    k->kbd_irq = kbd_irq;
    k->reset = reset;
    k->reset_opaque = reset_opaque;
    /* keyboard interrupt on, no translation: Linux's atkbd then speaks scan code set 2 */
    k->ctr = CTR_KBD_INT | CTR_SYS | CTR_AUX_DIS;
    k->status = ST_SYS | ST_UNLOCKED;
    k->outport = 0x01;              /* reset line released */
}

void i8042_destroy(struct i8042 *k)
{
    pthread_mutex_destroy(&k->lock);
}

struct mmio_region i8042_region(struct i8042 *k)
{
    return (struct mmio_region){ .name = "i8042", .base = I8042_PORT_BASE,
                                 .size = I8042_PORT_SIZE, .opaque = k,
                                 .read = i8042_read, .write = i8042_write };
}

bool i8042_send_ctrl_alt_del(struct i8042 *k)
{
    /* set 2: Ctrl 0x14, Alt 0x11, Del 0xe0 0x71; a release is 0xf0 before the code */
    static const uint8_t seq[] = { 0x14, 0x11, 0xe0, 0x71,
                                   0xe0, 0xf0, 0x71, 0xf0, 0x11, 0xf0, 0x14 };
    bool ok = false;
    pthread_mutex_lock(&k->lock);
    if (I8042_BUF - k->count >= sizeof(seq)) {
        for (size_t i = 0; i < sizeof(seq); i++)
            push(k, seq[i]);
        ok = true;
    }
    update_irq(k);
    pthread_mutex_unlock(&k->lock);
    return ok;
}

void i8042_save(struct i8042 *k, struct persist_writer *w)
{
    pthread_mutex_lock(&k->lock);
    persist_begin(w, "i8042", 1);
    persist_u8(w, k->ctr);
    persist_u8(w, k->status);
    persist_u8(w, k->pending_cmd);
    persist_u8(w, k->pending_kbd);
    persist_u8(w, k->outport);
    /* the buffered bytes in order, so the state does not depend on where the ring starts */
    persist_u8(w, (uint8_t)k->count);
    for (unsigned i = 0; i < k->count; i++)
        persist_u8(w, k->buf[(k->head + i) % I8042_BUF]);
    persist_end(w);
    pthread_mutex_unlock(&k->lock);
}

int i8042_restore(struct i8042 *k, struct persist_reader *r)
{
    if (persist_open(r, "i8042", 1) != 0)
        return -1;
    uint8_t reg[5];
    persist_get_bytes(r, reg, sizeof(reg));
    unsigned count = persist_get_u8(r);
    if (persist_ok(r) && count > I8042_BUF)
        return persist_fail(r, "i8042 state: %u bytes in a %u-byte buffer", count, I8042_BUF);
    uint8_t buf[I8042_BUF];
    persist_get_bytes(r, buf, count);
    if (persist_close(r) != 0)
        return -1;
    /* OBF says whether a byte waits: it must agree with the buffer */
    if (!(reg[1] & ST_OBF) != !count)
        return persist_fail(r, "i8042 state: status %#x with %u bytes buffered", reg[1], count);
    pthread_mutex_lock(&k->lock);
    k->ctr = reg[0], k->status = reg[1], k->pending_cmd = reg[2], k->pending_kbd = reg[3];
    k->outport = reg[4];
    memcpy(k->buf, buf, count);
    k->head = 0;
    k->count = count;
    update_irq(k);
    pthread_mutex_unlock(&k->lock);
    return 0;
}
