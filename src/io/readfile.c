#include "io/readfile.h"

#include "core/common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

int io_copy_bytes(uint8_t **buf, const void *data, size_t len)
{
    *buf = malloc(len ? len : 1);
    if (!*buf) return ddpm_error("out of memory copying %zu bytes", len);
    if (len) memcpy(*buf, data, len);
    return DDPM_OK;
}

void *io_input_adopt(size_t size, uint8_t *buf, size_t len)
{
    io_input *in = calloc(1, size);
    if (!in) {
        free(buf);
        ddpm_error("out of memory");
        return NULL;
    }
    in->buf = buf;
    in->len = len;
    return in;
}

int io_read_file(const char *path, uint8_t **buf, size_t *len, size_t max_bytes)
{
    *buf = NULL;
    *len = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) return ddpm_error("%s: cannot open (%s)", path, strerror(errno));
    off_t n = -1;
    if (fseeko(fp, 0, SEEK_END) == 0) n = ftello(fp);
    if (n < 0 || fseeko(fp, 0, SEEK_SET) != 0) {
        fclose(fp);
        return ddpm_error("%s: cannot determine the file size", path);
    }
    if (max_bytes && (uint64_t)n > max_bytes) {
        fclose(fp);
        return ddpm_error("%s: %lld bytes is more than the %zu this reader accepts", path, (long long)n, max_bytes);
    }
    uint8_t *b = malloc(n ? (size_t)n : 1);
    if (!b) {
        fclose(fp);
        return ddpm_error("%s: out of memory reading %lld bytes", path, (long long)n);
    }
    size_t got = fread(b, 1, (size_t)n, fp);
    fclose(fp);
    if (got != (size_t)n) {
        free(b);
        return ddpm_error("%s: read error", path);
    }
    *buf = b;
    *len = (size_t)n;
    return DDPM_OK;
}
