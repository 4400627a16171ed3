/* classifier_internal.h — what classifier.c (load, inference) and classifier_train.c share:
 * the parameter table, the activation cache of one batch and the forward pass. Not a public
 * header. */
#ifndef DDPM_FEATURES_CLASSIFIER_INTERNAL_H
#define DDPM_FEATURES_CLASSIFIER_INTERNAL_H

#include <stddef.h>

#include "features/classifier.h"

enum { CLF_C1 = 32, CLF_C2 = 64, CLF_C3 = 64, CLF_FLAT = 7 * 7 * CLF_C3, CLF_D = 128 };

enum {
    CLF_CONV1_W,
    CLF_CONV1_B,
    CLF_CONV2_W,
    CLF_CONV2_B,
    CLF_CONV3_W,
    CLF_CONV3_B,
    CLF_FC1_W,
    CLF_FC1_B,
    CLF_LOGITS_W,
    CLF_LOGITS_B,
    CLF_NUM_PARAMS
};

typedef struct {
    const char *name;
    int rank;
    int dims[4];
    int fan_in, fan_out; /* for the init; 0 for biases (zero init) */
} clf_param_info;

extern const clf_param_info clf_params[CLF_NUM_PARAMS];

/* Activations of one batch of up to cap examples; everything the backward pass reads. */
typedef struct {
    int cap;
    float *x;      /* (B, 28, 28, 1) */
    float *h1_pre; /* (B, 28, 28, 32) */
    float *h1;     /* (B, 28, 28, 32) */
    float *h2_pre; /* (B, 14, 14, 64) */
    float *h2;     /* (B, 14, 14, 64) */
    float *h3_pre; /* (B, 7, 7, 64) */
    float *h3;     /* (B, 3136) */
    float *f_pre;  /* (B, 128) */
    float *f;      /* (B, 128) the features */
    float *logits; /* (B, 10) */
    float *col;    /* im2col workspace */
    size_t col_cap;
    float *block;
} clf_acts;

struct fmnist_classifier {
    float *params; /* one block, table order */
    size_t nparams;
    float *p[CLF_NUM_PARAMS]; /* views into params */
    clf_acts *eval;           /* inference workspaces, one per OpenMP thread */
    int n_eval;
};

size_t clf_param_count(int i);
/* Allocates params (zeroed) and the inference workspace. */
int clf_create(fmnist_classifier **out);
int clf_acts_alloc(clf_acts *a, int cap);
void clf_acts_free(clf_acts *a);
/* a->x holds B examples; fills every activation through a->logits. */
int clf_forward(const fmnist_classifier *c, clf_acts *a, int B);

#endif
