/* crc32c.h — CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) and the LevelDB/TensorFlow
 * mask that SSTable block trailers and BundleEntryProto.crc32c store (FORMATS.md §2.4).
 * crc32c_extend(crc32c_value(a), b) == crc32c_value(a ‖ b). */
#ifndef DDPM_CRC32C_H
#define DDPM_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t crc32c_extend(uint32_t crc, const void *data, size_t n);
static inline uint32_t crc32c_value(const void *data, size_t n) { return crc32c_extend(0, data, n); }

/* A CRC stored next to the data it covers is masked, so that the CRC of a string holding
 * embedded CRCs stays well distributed: rotate right by 15, add 0xa282ead8. */
#define CRC32C_MASK_DELTA 0xa282ead8u
static inline uint32_t crc32c_mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + CRC32C_MASK_DELTA; }
static inline uint32_t crc32c_unmask(uint32_t masked)
{
    uint32_t r = masked - CRC32C_MASK_DELTA;
    return (r >> 17) | (r << 15);
}

#endif
