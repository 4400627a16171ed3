/* protobuf.h — a minimal bounds-checked decoder of the protobuf wire format, enough for the
 * TensorFlow checkpoint protos (BundleHeaderProto, BundleEntryProto, TensorShapeProto).
 *
 * A message is a sequence of fields: a varint key (field_number << 3 | wire_type), then
 *   wire 0  varint (int32/int64/enum/bool; a negative int32 takes 10 bytes),
 *   wire 1  8 bytes little-endian,
 *   wire 2  varint length + that many bytes (submessage, string, packed repeated),
 *   wire 5  4 bytes little-endian.
 * Groups (wire 3/4) and wire types 6/7 are errors, as are field number 0, a varint of more
 * than 10 bytes or beyond 64 bits, and a length running past the message. Unknown fields are
 * skipped by the caller simply by not looking at them: pb_next decodes every wire type.
 * Errors return DDPM_ERR with a message giving the byte offset in the message. */
#ifndef DDPM_PROTOBUF_H
#define DDPM_PROTOBUF_H

#include <stddef.h>
#include <stdint.h>

enum { PB_VARINT = 0, PB_FIXED64 = 1, PB_LEN = 2, PB_FIXED32 = 5 };

typedef struct {
    const uint8_t *base; /* message start (for offsets in messages) */
    size_t pos, len;
} pb_reader;

typedef struct {
    uint32_t number;
    int wire;
    uint64_t u64;        /* PB_VARINT, PB_FIXED64, PB_FIXED32 (zero-extended) */
    const uint8_t *data; /* PB_LEN: the payload, inside the message */
    size_t len;
} pb_field;

static inline pb_reader pb_reader_init(const void *msg, size_t len)
{
    pb_reader r = { (const uint8_t *)msg, 0, len };
    return r;
}

/* Reads a varint at p[*pos..n), advancing *pos: at most 10 bytes, value < 2^64. */
int pb_read_varint(const uint8_t *p, size_t n, size_t *pos, uint64_t *v);
/* Next field: 1 and *f filled, 0 at the end of the message, DDPM_ERR (-1) if malformed. */
int pb_next(pb_reader *r, pb_field *f);

/* int32 fields are sign-extended to 64 bits on the wire; this recovers the proto's value and
 * says (return 0) when the varint is not a valid int32 encoding. */
static inline int pb_as_int32(uint64_t v, int32_t *out)
{
    int64_t s = (int64_t)v;
    if (s < INT32_MIN || s > INT32_MAX) return 0;
    *out = (int32_t)s;
    return 1;
}

#endif
