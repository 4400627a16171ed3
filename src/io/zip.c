/* zip.c — zip reader and stored-entry writer (zip.h). Every read is bounds-checked. */
#include "io/zip.h"

#include "core/common.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

/* errors name the archive; text quoted from it stays one printable line */
#define zerr(f, ...) ddpm_error_in((f)->label, __VA_ARGS__)

static uint64_t rd_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int k = n - 1; k >= 0; k--) v = (v << 8) | p[k];
    return v;
}

static uint32_t u16at(const uint8_t *p) { return (uint32_t)rd_le(p, 2); }
static uint32_t u32at(const uint8_t *p) { return (uint32_t)rd_le(p, 4); }

/* Extra fields must tile exactly; zip64 (id 1) supplies the fields that read 0xFFFFFFFF. */
static int parse_extra(const zip_archive *f, const uint8_t *p, size_t n, uint64_t *uncomp, uint64_t *comp,
                       uint64_t *off, const char *where)
{
    while (n > 0) {
        if (n < 4) return zerr(f, "zip: malformed extra field in %s", where);
        uint32_t id = u16at(p), sz = u16at(p + 2);
        if (sz > n - 4) return zerr(f, "zip: extra field overruns %s", where);
        if (id == 1) {
            const uint8_t *q = p + 4, *qe = q + sz;
            uint64_t *fields[3] = { uncomp, comp, off };
            for (int k = 0; k < 3; k++) {
                if (!fields[k] || *fields[k] != 0xFFFFFFFFu) continue;
                if (qe - q < 8) return zerr(f, "zip: short zip64 extra field in %s", where);
                *fields[k] = rd_le(q, 8);
                q += 8;
            }
        }
        p += 4 + sz;
        n -= 4 + sz;
    }
    return DDPM_OK;
}

/* Central directory entry k at *pp (advanced past it). */
static int parse_central(const zip_archive *f, const uint8_t **pp, const uint8_t *pe, zip_entry *z, uint64_t k)
{
    const uint8_t *p = *pp;
    if (pe - p < 46 || u32at(p) != 0x02014b50u)
        return zerr(f, "zip: central directory entry %llu is corrupt", (unsigned long long)k);
    z->version = (uint16_t)u16at(p + 6);
    z->flags = (uint16_t)u16at(p + 8);
    z->method = (uint16_t)u16at(p + 10);
    z->time = (uint16_t)u16at(p + 12);
    z->date = (uint16_t)u16at(p + 14);
    z->crc = u32at(p + 16);
    z->comp = u32at(p + 20);
    z->uncomp = u32at(p + 24);
    size_t nl = u16at(p + 28), xl = u16at(p + 30), cl = u16at(p + 32);
    if (u16at(p + 34) != 0) return zerr(f, "zip: entry %llu is on another disk", (unsigned long long)k);
    z->local_off = u32at(p + 42);
    if ((size_t)(pe - p) - 46 < nl + xl + cl)
        return zerr(f, "zip: central directory entry %llu overruns", (unsigned long long)k);
    z->name = (const char *)p + 46;
    z->nlen = nl;
    DDPM_TRY(parse_extra(f, p + 46 + nl, xl, &z->uncomp, &z->comp, &z->local_off, "the central directory"));
    *pp = p + 46 + nl + xl + cl;
    return DDPM_OK;
}

/* The local header must agree with the central directory, the entry must be stored (torch
 * never compresses), its data must lie before the central directory and match its CRC-32;
 * sets data_off and end (past the data descriptor, if any). */
static int check_local(const zip_archive *f, zip_entry *z, uint64_t cd_off)
{
    const uint8_t *b = f->buf;
    char nm[96];
    snprintf(nm, sizeof nm, "%.*s", (int)(z->nlen < 80 ? z->nlen : 80), z->name);
    if (z->local_off > cd_off || cd_off - z->local_off < 30)
        return zerr(f, "zip: entry %s: local header offset out of range", nm);
    const uint8_t *l = b + z->local_off;
    if (u32at(l) != 0x04034b50u) return zerr(f, "zip: entry %s: local header signature missing", nm);
    size_t nl = u16at(l + 26), xl = u16at(l + 28);
    if (u16at(l + 4) != z->version || u16at(l + 6) != z->flags || u16at(l + 8) != z->method ||
        u16at(l + 10) != z->time || u16at(l + 12) != z->date || nl != z->nlen)
        return zerr(f, "zip: entry %s: local header disagrees with the central directory", nm);
    if (z->flags & 1) return zerr(f, "zip: entry %s is encrypted", nm);
    if (z->method != 0 && !(z->method == 8 && f->allow_deflate))
        return zerr(f,
                    "zip: entry %s is compressed (method %u); torch.save stores entries "
                    "uncompressed: re-save the file with torch.save",
                    nm, z->method);
    if (cd_off - z->local_off - 30 < nl + xl) return zerr(f, "zip: entry %s: local header overruns", nm);
    if (memcmp(l + 30, z->name, nl)) return zerr(f, "zip: entry %s: local name differs from the central directory", nm);
    uint64_t lu = u32at(l + 22), lc = u32at(l + 18);
    uint32_t lcrc = u32at(l + 14);
    DDPM_TRY(parse_extra(f, l + 30 + nl, xl, &lu, &lc, NULL, "a local header"));
    int dd = (z->flags & 8) != 0; /* sizes and CRC may follow the data instead */
    if (!((lcrc == z->crc && lu == z->uncomp && lc == z->comp) || (dd && lcrc == 0 && lu == 0 && lc == 0)))
        return zerr(f, "zip: entry %s: local sizes/CRC disagree with the central directory", nm);
    if (z->method == 0 && z->comp != z->uncomp)
        return zerr(f, "zip: stored entry %s has different packed and unpacked sizes", nm);
    z->data_off = z->local_off + 30 + nl + xl;
    if (z->comp > cd_off - z->data_off) return zerr(f, "zip: entry %s: data runs into the central directory", nm);
    z->end = z->data_off + z->comp;
    if (dd) { /* data descriptor: [signature] crc, sizes (4 or 8 bytes each) */
        const uint8_t *q = b + z->end;
        size_t room = cd_off - z->end;
        if (room >= 4 && u32at(q) == 0x08074b50u) {
            q += 4;
            room -= 4;
        }
        if (room >= 12 && u32at(q) == z->crc && u32at(q + 4) == z->comp && u32at(q + 8) == z->uncomp) q += 12;
        else if (room >= 20 && u32at(q) == z->crc && rd_le(q + 4, 8) == z->comp && rd_le(q + 12, 8) == z->uncomp)
            q += 20;
        else return zerr(f, "zip: entry %s: data descriptor missing or wrong", nm);
        z->end = (uint64_t)(q - b);
    }
    if (z->method == 0 && (uint32_t)crc32_z(0L, b + z->data_off, (z_size_t)z->comp) != z->crc)
        return zerr(f, "zip: entry %s: CRC-32 mismatch (file corrupt)", nm);
    return DDPM_OK;
}

static int zip_entries(zip_archive *f, zip_entry **out, int *count)
{
    const uint8_t *b = f->buf;
    size_t len = f->len;
    *out = NULL;
    *count = 0;
    if (len < 22) return zerr(f, "zip: too short for an end-of-central-directory record");
    size_t e = len - 22, lo = len > 22 + 65535 ? len - 22 - 65535 : 0;
    for (;; e--) {
        if (u32at(b + e) == 0x06054b50u && e + 22 + u16at(b + e + 20) == len) break;
        if (e == lo) return zerr(f, "zip: end-of-central-directory record not found (file truncated?)");
    }
    uint64_t ndisk = u16at(b + e + 8), ntotal = u16at(b + e + 10);
    uint64_t cd_size = u32at(b + e + 12), cd_off = u32at(b + e + 16);
    if (u16at(b + e + 4) != 0 || u16at(b + e + 6) != 0 || ndisk != ntotal)
        return zerr(f, "zip: multi-disk archives are not supported");
    size_t cd_end = e;
    if (e >= 20 && u32at(b + e - 20) == 0x07064b50u) {
        /* zip64 locator + record (torch always writes them) */
        uint64_t z = rd_le(b + e - 12, 8);
        if (u32at(b + e - 16) != 0 || u32at(b + e - 4) != 1) return zerr(f, "zip: bad zip64 locator");
        if (z > e - 20 || e - 20 - z < 56 || u32at(b + z) != 0x06064b50u)
            return zerr(f, "zip: zip64 end record not where its locator says");
        if (rd_le(b + z + 4, 8) != e - 20 - z - 12) return zerr(f, "zip: bad zip64 end record size");
        if (u32at(b + z + 16) != 0 || u32at(b + z + 20) != 0 || rd_le(b + z + 24, 8) != rd_le(b + z + 32, 8))
            return zerr(f, "zip: multi-disk archives are not supported");
        uint64_t n64 = rd_le(b + z + 32, 8), s64 = rd_le(b + z + 40, 8), o64 = rd_le(b + z + 48, 8);
        if ((ntotal != 0xFFFF && ntotal != n64) || (cd_size != 0xFFFFFFFFu && cd_size != s64) ||
            (cd_off != 0xFFFFFFFFu && cd_off != o64))
            return zerr(f, "zip: zip64 and classic end records disagree");
        ntotal = n64;
        cd_size = s64;
        cd_off = o64;
        cd_end = (size_t)z;
    }
    if (cd_off > cd_end || cd_size != cd_end - cd_off)
        return zerr(f, "zip: central directory [%llu, +%llu) does not end at the end record",
                    (unsigned long long)cd_off, (unsigned long long)cd_size);
    if (ntotal == 0 || ntotal > cd_size / 46) return zerr(f, "zip: bad entry count %llu", (unsigned long long)ntotal);
    zip_entry *ent = calloc((size_t)ntotal, sizeof *ent);
    if (!ent) return ddpm_error("out of memory");
    const uint8_t *p = b + cd_off, *pe = b + cd_end;
    int rc = DDPM_OK;
    for (uint64_t k = 0; k < ntotal && rc == DDPM_OK; k++) rc = parse_central(f, &p, pe, &ent[k], k);
    if (rc == DDPM_OK && p != pe) rc = zerr(f, "zip: central directory has trailing bytes");
    for (uint64_t k = 0; k < ntotal && rc == DDPM_OK; k++) rc = check_local(f, &ent[k], cd_off);
    /* entries must not overlap */
    for (uint64_t k = 0; k < ntotal && rc == DDPM_OK; k++)
        for (uint64_t j = 0; j < ntotal && rc == DDPM_OK; j++)
            if (j != k && ent[j].local_off >= ent[k].local_off && ent[j].local_off < ent[k].end)
                rc = zerr(f, "zip: entries overlap");
    if (rc != DDPM_OK) {
        free(ent);
        return rc;
    }
    *out = ent;
    *count = (int)ntotal;
    return DDPM_OK;
}

int zip_open(zip_archive *z, const uint8_t *buf, size_t len, const char *label, int allow_deflate)
{
    memset(z, 0, sizeof *z);
    z->buf = buf;
    z->len = len;
    z->label = label ? label : "(memory)";
    z->allow_deflate = allow_deflate;
    return zip_entries(z, &z->ent, &z->n);
}

void zip_close(zip_archive *z)
{
    free(z->ent);
    z->ent = NULL;
    z->n = 0;
}

const zip_entry *zip_find(const zip_archive *z, const char *prefix, size_t pl, const char *suffix)
{
    size_t sl = strlen(suffix);
    for (int k = 0; k < z->n; k++)
        if (z->ent[k].nlen == pl + sl && !memcmp(z->ent[k].name, prefix, pl) &&
            !memcmp(z->ent[k].name + pl, suffix, sl))
            return &z->ent[k];
    return NULL;
}

int zip_data(const zip_archive *z, const zip_entry *e, const uint8_t **data, uint8_t **owned)
{
    *owned = NULL;
    *data = NULL;
    if (e->method == 0) {
        *data = z->buf + e->data_off;
        return DDPM_OK;
    }
    char nm[96];
    snprintf(nm, sizeof nm, "%.*s", (int)(e->nlen < 80 ? e->nlen : 80), e->name);
    if (e->uncomp > ((uint64_t)1 << 40))
        return zerr(z, "zip: entry %s claims %llu bytes", nm, (unsigned long long)e->uncomp);
    uint8_t *out = malloc(e->uncomp ? (size_t)e->uncomp : 1);
    if (!out) return ddpm_error("%s: out of memory inflating %s", z->label, nm);
    z_stream s;
    memset(&s, 0, sizeof s);
    if (inflateInit2(&s, -15) != Z_OK) {
        free(out);
        return zerr(z, "zip: cannot start inflating %s", nm);
    }
    const uint8_t *in = z->buf + e->data_off;
    uint64_t in_left = e->comp, out_left = e->uncomp;
    uint8_t *op = out;
    int rc;
    for (;;) { /* zlib counts in uInt: feed and drain in chunks */
        if (s.avail_in == 0 && in_left) {
            uInt c = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
            s.next_in = (Bytef *)(uintptr_t)in;
            s.avail_in = c;
            in += c;
            in_left -= c;
        }
        if (s.avail_out == 0 && out_left) {
            uInt c = out_left > (1u << 30) ? (1u << 30) : (uInt)out_left;
            s.next_out = op;
            s.avail_out = c;
            op += c;
            out_left -= c;
        }
        rc = inflate(&s, Z_NO_FLUSH);
        if (rc != Z_OK) break; /* Z_STREAM_END, an error, or Z_BUF_ERROR (no progress) */
    }
    uint64_t out_done = (uint64_t)s.total_out;
    inflateEnd(&s);
    if (rc != Z_STREAM_END || out_done != e->uncomp) {
        free(out);
        return zerr(z, "zip: entry %s: deflate data corrupt or truncated", nm);
    }
    if ((uint32_t)crc32_z(0L, out, (z_size_t)e->uncomp) != e->crc) {
        free(out);
        return zerr(z, "zip: entry %s: CRC-32 mismatch (file corrupt)", nm);
    }
    *data = out;
    *owned = out;
    return DDPM_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Writer                                                                                      */

static void wr(zip_writer *w, const void *p, size_t n)
{
    if (w->failed) return;
    if (n && fwrite(p, 1, n, w->fp) != n) w->failed = 1;
    w->off += n;
}

static void wle(zip_writer *w, uint64_t v, int n)
{
    uint8_t b[8];
    for (int k = 0; k < n; k++) b[k] = (uint8_t)(v >> (8 * k));
    wr(w, b, (size_t)n);
}

int zip_writer_open(zip_writer **out, const char *path)
{
    *out = NULL;
    zip_writer *w = calloc(1, sizeof *w);
    if (!w) return ddpm_error("out of memory");
    w->fp = fopen(path, "wb");
    if (!w->fp) {
        free(w);
        return ddpm_error("%s: cannot create (is the directory writable?)", path);
    }
    w->path = path;
    *out = w;
    return DDPM_OK;
}

/* DOS date 1980-01-01 00:00, as torch writes (its archives carry no timestamps). */
#define ZIP_DOS_TIME 0
#define ZIP_DOS_DATE 33

int zip_writer_add(zip_writer *w, const char *name, const void *data, size_t n, size_t align)
{
    size_t nl = strlen(name);
    if (w->n >= ZIP_MAX_WRITE_ENTRIES || nl >= sizeof w->e[0].name)
        return ddpm_error("%s: too many zip entries or name too long (%s)", w->path, name);
    uint32_t crc = (uint32_t)crc32_z(0L, data, (z_size_t)n);
    uint64_t start = w->off;
    /* extra field: zip64 (sizes) when large, then 'FB' padding so the data starts aligned */
    int z64 = n >= 0xFFFFFFFFu;
    size_t base = 30 + nl + (z64 ? 20 : 0);
    size_t pad = 0;
    if (align > 1) {
        size_t at = (size_t)((start + base + 4) % align);
        pad = at ? align - at : 0;
    }
    int has_pad = align > 1;
    size_t xl = (z64 ? 20 : 0) + (has_pad ? 4 + pad : 0);
    wle(w, 0x04034b50u, 4);
    wle(w, z64 ? 45 : 20, 2); /* version needed */
    wle(w, 0, 2);             /* flags */
    wle(w, 0, 2);             /* stored */
    wle(w, ZIP_DOS_TIME, 2);
    wle(w, ZIP_DOS_DATE, 2);
    wle(w, crc, 4);
    wle(w, z64 ? 0xFFFFFFFFu : n, 4);
    wle(w, z64 ? 0xFFFFFFFFu : n, 4);
    wle(w, nl, 2);
    wle(w, xl, 2);
    wr(w, name, nl);
    if (z64) {
        wle(w, 1, 2);
        wle(w, 16, 2);
        wle(w, n, 8);
        wle(w, n, 8);
    }
    if (has_pad) {
        static const uint8_t zeros[64] = { 0 };
        wle(w, 0x4246, 2); /* "FB", torch's padding id */
        wle(w, pad, 2);
        for (size_t k = pad; k > 0;) {
            size_t c = k < sizeof zeros ? k : sizeof zeros;
            wr(w, zeros, c);
            k -= c;
        }
    }
    wr(w, data, n);
    snprintf(w->e[w->n].name, sizeof w->e[w->n].name, "%s", name);
    w->e[w->n].off = start;
    w->e[w->n].size = n;
    w->e[w->n].crc = crc;
    w->n++;
    if (w->failed) return ddpm_error("%s: write failed (disk full?)", w->path);
    return DDPM_OK;
}

int zip_writer_close(zip_writer *w)
{
    uint64_t cd_off = w->off;
    for (int k = 0; k < w->n; k++) {
        size_t nl = strlen(w->e[k].name);
        int z64s = w->e[k].size >= 0xFFFFFFFFu, z64o = w->e[k].off >= 0xFFFFFFFFu;
        size_t xl = (z64s || z64o) ? 4 + 16 * z64s + 8 * z64o : 0;
        wle(w, 0x02014b50u, 4);
        wle(w, 45, 2); /* made by */
        wle(w, (z64s || z64o) ? 45 : 20, 2);
        wle(w, 0, 2);
        wle(w, 0, 2);
        wle(w, ZIP_DOS_TIME, 2);
        wle(w, ZIP_DOS_DATE, 2);
        wle(w, w->e[k].crc, 4);
        wle(w, z64s ? 0xFFFFFFFFu : w->e[k].size, 4);
        wle(w, z64s ? 0xFFFFFFFFu : w->e[k].size, 4);
        wle(w, nl, 2);
        wle(w, xl, 2);
        wle(w, 0, 2); /* comment */
        wle(w, 0, 2); /* disk */
        wle(w, 0, 2); /* internal attributes */
        wle(w, 0, 4); /* external attributes */
        wle(w, z64o ? 0xFFFFFFFFu : w->e[k].off, 4);
        wr(w, w->e[k].name, nl);
        if (xl) {
            wle(w, 1, 2);
            wle(w, xl - 4, 2);
            if (z64s) {
                wle(w, w->e[k].size, 8);
                wle(w, w->e[k].size, 8);
            }
            if (z64o) wle(w, w->e[k].off, 8);
        }
    }
    uint64_t cd_size = w->off - cd_off, z64_off = w->off;
    /* zip64 end record and locator, as torch writes them even for small archives */
    wle(w, 0x06064b50u, 4);
    wle(w, 44, 8);
    wle(w, 45, 2);
    wle(w, 45, 2);
    wle(w, 0, 4);
    wle(w, 0, 4);
    wle(w, (uint64_t)w->n, 8);
    wle(w, (uint64_t)w->n, 8);
    wle(w, cd_size, 8);
    wle(w, cd_off, 8);
    wle(w, 0x07064b50u, 4);
    wle(w, 0, 4);
    wle(w, z64_off, 8);
    wle(w, 1, 4);
    wle(w, 0x06054b50u, 4);
    wle(w, 0, 2);
    wle(w, 0, 2);
    wle(w, w->n >= 0xFFFF ? 0xFFFF : (uint64_t)w->n, 2);
    wle(w, w->n >= 0xFFFF ? 0xFFFF : (uint64_t)w->n, 2);
    wle(w, cd_size >= 0xFFFFFFFFu ? 0xFFFFFFFFu : cd_size, 4);
    wle(w, cd_off >= 0xFFFFFFFFu ? 0xFFFFFFFFu : cd_off, 4);
    wle(w, 0, 2);
    int rc = DDPM_OK;
    if (w->failed || fflush(w->fp) != 0 || fsync(fileno(w->fp)) != 0)
        rc = ddpm_error("%s: write failed (disk full?)", w->path);
    if (fclose(w->fp) != 0 && rc == DDPM_OK) rc = ddpm_error("%s: write failed", w->path);
    free(w);
    return rc;
}

void zip_writer_abort(zip_writer *w)
{
    if (!w) return;
    fclose(w->fp);
    free(w);
}
