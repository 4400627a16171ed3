/* tfbundle_stub.c — TEMPORARY placeholder until the TensorFlow bundle reader (branch
 * wip-tfbundle, src/io/tfbundle.c) is merged; removed by that merge. */
#include "io/tfbundle.h"

#include "core/common.h"

int tfbundle_open(tfbundle **out, const char *path)
{
    *out = NULL;
    return ddpm_error("%s: TensorFlow checkpoint bundles are not supported in this build", path);
}
void tfbundle_close(tfbundle *b) { (void)b; }
int tfbundle_num_tensors(const tfbundle *b) { (void)b; return 0; }
const char *tfbundle_tensor_name(const tfbundle *b, int i) { (void)b; (void)i; return NULL; }
int tfbundle_find(const tfbundle *b, const char *name) { (void)b; (void)name; return -1; }
int tfbundle_tensor_info(const tfbundle *b, int i, io_dtype *dtype, int *rank,
                         int64_t shape[IO_MAX_RANK], uint64_t *nbytes)
{
    (void)b; (void)i; (void)dtype; (void)rank; (void)shape; (void)nbytes;
    return ddpm_error("no TensorFlow bundle reader");
}
int tfbundle_check_crc(const tfbundle *b, int i) { (void)b; (void)i; return -1; }
int tfbundle_get_f32(const tfbundle *b, int i, float **out)
{
    (void)b; (void)i;
    *out = NULL;
    return ddpm_error("no TensorFlow bundle reader");
}
