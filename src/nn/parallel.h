/* parallel.h — when the layers use OpenMP threads.
 *
 * A loop over fewer than NN_PAR_MIN_WORK elements runs on the calling thread: below that,
 * waking a thread team costs more than it saves (much more on an oversubscribed machine).
 * The choice never changes results: every output element is computed by one thread in a fixed
 * order, whatever the team size. */
#ifndef DDPM_NN_PARALLEL_H
#define DDPM_NN_PARALLEL_H

#include <stddef.h>

#define NN_PAR_MIN_WORK 32768
#define NN_PAR_IF(work) ((size_t)(work) >= (size_t)NN_PAR_MIN_WORK)

#endif
