/* One ChessFormer decode step for one sequence, in plain C (the batch-1 path of cpu-fast).
 *
 * Why C: at batch 1 the TorchScript trace of engine/backends/static_step.py spends most of
 * a step dispatching ~150 small operators, not computing (~3.6 M multiply-adds for the
 * bundled model). This is the same arithmetic as static_step.decode_step with one loop per
 * operator and no dispatch. engine/backends/native_step.py compiles it on first use and
 * checks it against the torch step (tests/test_native_step.py).
 *
 * Weights are row-major [out, in] like torch's nn.Linear. With int8 set, the linear weights
 * (not embeddings, layer norms or the value head) are int8 with one float scale per output
 * row, and each linear layer's input is quantised to 8 bits per call (see matvec_i8).
 *
 * Cache: for the slot being decoded, layer l's keys are at k_cache + l * layer_stride, laid
 * out [H, max_len, D] (a slice of StaticKVCache's [L, S, H, Tmax, D]); values likewise.
 *
 * Threads: a pool (cf_pool_create) splits each linear layer's rows between threads. At batch
 * 1 a step streams every weight once, so it is bound by memory bandwidth, and a second core
 * brings its own share of it (and its own L2 cache, which can keep its half of the rows).
 * Workers sleep between steps and spin only inside one.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

/* dims[], in this order */
enum { D_LAYER, D_HEAD, D_EMBD, D_HIDDEN, D_MOVES, D_MAX_LEN, D_POS_ID, D_INT8, D_VOCAB, D_FEATURES, D_PAD_FEATURE, D_COUNT };

/* weights[], in this order: the globals, then W_PER_LAYER pointers per layer. A linear layer
 * is three pointers: its weights, and for int8 its row scales (float) and row sums (int32). */
enum { W_TOK, W_FEAT, W_POS, W_LNF, W_POLICY, W_POLICY_S, W_POLICY_R, W_VALUE, W_VALUE_B, W_GLOBAL };
enum { L_LN1, L_LN2, L_QKV, L_PROJ = L_QKV + 3, L_FC = L_PROJ + 3, L_MPROJ = L_FC + 3, W_PER_LAYER = L_MPROJ + 3 };

int cf_abi_version(void) { return 5; }

int cf_dims_count(void) { return D_COUNT; }

int cf_weights_count(int n_layer) { return W_GLOBAL + W_PER_LAYER * n_layer; }

/* Floats of scratch memory cf_decode needs (the last hidden+embd of them hold quantised bytes). */
size_t cf_scratch_floats(const int32_t *dims) {
    size_t C = (size_t)dims[D_EMBD], F = (size_t)dims[D_HIDDEN];
    return 6 * C + F + (size_t)dims[D_MAX_LEN] + (F + C) / 4 + 1;
}

static void layer_norm(const float *x, const float *w, float *out, int n) {
    float mean = 0.f, var = 0.f;
    for (int i = 0; i < n; i++) mean += x[i];
    mean /= (float)n;
    for (int i = 0; i < n; i++) {
        float d = x[i] - mean;
        var += d * d;
    }
    float inv = 1.f / sqrtf(var / (float)n + 1e-5f); /* torch LayerNorm's eps */
    for (int i = 0; i < n; i++) out[i] = (x[i] - mean) * inv * w[i];
}

/* y[o] (+)= W[o, :] . x for rows o0 <= o < o1; four rows at a time so the loads of x are
 * shared. At batch 1 this streams the weights once: bound by memory bandwidth. */
static void matvec_f32(const float *W, const float *x, float *y, int o0, int o1, int n_in, int accumulate) {
    int o = o0;
    for (; o + 4 <= o1; o += 4) {
        const float *w0 = W + (size_t)o * n_in, *w1 = w0 + n_in, *w2 = w1 + n_in, *w3 = w2 + n_in;
        float a0 = 0.f, a1 = 0.f, a2 = 0.f, a3 = 0.f;
#pragma omp simd reduction(+ : a0, a1, a2, a3)
        for (int i = 0; i < n_in; i++) {
            a0 += w0[i] * x[i];
            a1 += w1[i] * x[i];
            a2 += w2[i] * x[i];
            a3 += w3[i] * x[i];
        }
        if (accumulate) {
            y[o] += a0, y[o + 1] += a1, y[o + 2] += a2, y[o + 3] += a3;
        } else {
            y[o] = a0, y[o + 1] = a1, y[o + 2] = a2, y[o + 3] = a3;
        }
    }
    for (; o < o1; o++) {
        const float *w = W + (size_t)o * n_in;
        float a = 0.f;
#pragma omp simd reduction(+ : a)
        for (int i = 0; i < n_in; i++) a += w[i] * x[i];
        y[o] = accumulate ? y[o] + a : a;
    }
}

/* Dynamic int8, as torch's quantize_dynamic: x is quantised per call (symmetric, one scale),
 * shifted by 128 to unsigned bytes, and returns the scale. */
static float quantize_input(const float *x, uint8_t *xq, int n) {
    float top = 0.f;
    for (int i = 0; i < n; i++) top = fmaxf(top, fabsf(x[i]));
    const float sx = top > 0.f ? top / 127.f : 1.f, inv = 1.f / sx;
    for (int i = 0; i < n; i++) xq[i] = (uint8_t)(int)(x[i] * inv + 128.5f); /* round half up, in 1..255 */
    return sx;
}

/* Rows o0..o1 of an int8 layer on the quantised input: each row's integer dot product is
 * corrected by 128 * (the row's weight sum). The byte-times-byte loop into int32 is what
 * AVX-512 VNNI's vpdpbusd does, 64 products an instruction; compilers emit it for this loop. */
static void matvec_i8(const int8_t *W, const float *s, const int32_t *rowsum, const uint8_t *xq, float sx, float *y,
                      int o0, int o1, int n_in, int accumulate) {
    for (int o = o0; o < o1; o++) {
        const int8_t *w = W + (size_t)o * n_in;
        int32_t a = 0;
        for (int i = 0; i < n_in; i++) a += w[i] * xq[i];
        const float v = (float)(a - 128 * rowsum[o]) * s[o] * sx;
        y[o] = accumulate ? y[o] + v : v;
    }
}

/* ---- the thread pool: one job at a time, split into parts by rows ---- */
#define CF_MAX_THREADS 64

typedef struct {
    const void *const *w; /* weights, scales, row sums */
    const float *x;
    const uint8_t *xq;
    float sx, *y;
    int n_out, n_in, int8, accumulate;
} linear_job;

typedef struct cf_pool {
    int workers; /* threads besides the caller's */
    pthread_t thread[CF_MAX_THREADS];
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    atomic_int awake;      /* 1 while a step runs: workers spin for jobs; 0: they sleep */
    atomic_int quit;
    atomic_uint job_id;    /* bumped once per job */
    atomic_int done;       /* workers finished with the current job */
    const linear_job *job; /* written before job_id is bumped */
} cf_pool;

static void run_part(const linear_job *j, int part, int parts) {
    /* rows in multiples of 4 (matvec_f32's block), the last part takes the rest */
    int per = ((j->n_out + parts - 1) / parts + 3) & ~3;
    int o0 = part * per, o1 = o0 + per < j->n_out ? o0 + per : j->n_out;
    if (o0 >= o1) return;
    if (j->int8)
        matvec_i8((const int8_t *)j->w[0], (const float *)j->w[1], (const int32_t *)j->w[2], j->xq, j->sx, j->y, o0,
                  o1, j->n_in, j->accumulate);
    else
        matvec_f32((const float *)j->w[0], j->x, j->y, o0, o1, j->n_in, j->accumulate);
}

typedef struct {
    cf_pool *pool;
    int index; /* 1..workers; the caller is part 0 */
} worker_arg;

static void *worker_main(void *arg) {
    worker_arg a = *(worker_arg *)arg;
    free(arg);
    cf_pool *p = a.pool;
    unsigned seen = 0; /* job ids start at 1: a worker that starts late still takes the first job */
    for (;;) {
        pthread_mutex_lock(&p->mutex);
        while (!atomic_load(&p->awake) && !atomic_load(&p->quit)) pthread_cond_wait(&p->wake, &p->mutex);
        pthread_mutex_unlock(&p->mutex);
        if (atomic_load(&p->quit)) return NULL;
        while (atomic_load_explicit(&p->awake, memory_order_acquire)) {
            unsigned id = atomic_load_explicit(&p->job_id, memory_order_acquire);
            if (id != seen) {
                seen = id;
                run_part(p->job, a.index, p->workers + 1);
                atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
            } else {
                CPU_RELAX();
            }
        }
    }
}

/* A pool of threads - 1 workers (threads <= 1: none, every step runs on the caller). */
cf_pool *cf_pool_create(int threads) {
    cf_pool *p = calloc(1, sizeof(cf_pool));
    if (!p) return NULL;
    pthread_mutex_init(&p->mutex, NULL);
    pthread_cond_init(&p->wake, NULL);
    int want = threads - 1 < CF_MAX_THREADS ? threads - 1 : CF_MAX_THREADS;
    for (int i = 0; i < want; i++) {
        worker_arg *arg = malloc(sizeof(worker_arg));
        if (!arg) break;
        arg->pool = p, arg->index = i + 1;
        if (pthread_create(&p->thread[i], NULL, worker_main, arg) != 0) {
            free(arg);
            break;
        }
        p->workers = i + 1; /* only workers that started take parts */
    }
    return p;
}

void cf_pool_destroy(cf_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mutex);
    atomic_store(&p->quit, 1);
    atomic_store(&p->awake, 0);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mutex);
    for (int i = 0; i < p->workers; i++) pthread_join(p->thread[i], NULL);
    pthread_mutex_destroy(&p->mutex);
    pthread_cond_destroy(&p->wake);
    free(p);
}

int cf_pool_threads(const cf_pool *p) { return p ? p->workers + 1 : 1; }

static void pool_wake(cf_pool *p) {
    if (!p || !p->workers) return;
    pthread_mutex_lock(&p->mutex);
    atomic_store(&p->awake, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mutex);
}

static void pool_sleep(cf_pool *p) {
    if (p && p->workers) atomic_store_explicit(&p->awake, 0, memory_order_release);
}

/* Run one job on every thread and wait for all of it. Workers are awake (pool_wake). */
static void pool_run(cf_pool *p, const linear_job *j) {
    if (!p || !p->workers) {
        run_part(j, 0, 1);
        return;
    }
    p->job = j;
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->job_id, 1, memory_order_release); /* publishes job and done */
    run_part(j, 0, p->workers + 1);
    while (atomic_load_explicit(&p->done, memory_order_acquire) < p->workers) CPU_RELAX();
}

/* One linear layer: w points at its weights, and for int8 its scales and row sums. */
static void linear(cf_pool *pool, const void *const *w, int int8, const float *x, uint8_t *xq, float *y, int n_out,
                   int n_in, int acc) {
    linear_job j = {w, x, xq, 1.f, y, n_out, n_in, int8, acc};
    if (int8) j.sx = quantize_input(x, xq, n_in);
    pool_run(pool, &j);
}

/* Decode one token at position pos (pool: from cf_pool_create, or NULL for this thread alone): writes its keys and values into the cache at pos, the
 * move logits to policy[n_moves] and the win/draw/loss logits to value[3]. anchor holds
 * n_anchor feature ids, the token's feature row (engine/tokenizer.py: the board of a POS token;
 * padding rows of feat_emb are zero).
 * Returns 0, -1 if pos is outside the cache, -2 if the token or a feature id is outside its table. */
int cf_decode(cf_pool *pool, const int32_t *dims, const void *const *weights, int64_t token, const int64_t *anchor,
              int n_anchor, int64_t pos, float *k_cache, float *v_cache, int64_t layer_stride, float *policy,
              float *value, float *scratch) {
    const int L = dims[D_LAYER], H = dims[D_HEAD], C = dims[D_EMBD], F = dims[D_HIDDEN];
    const int Tmax = dims[D_MAX_LEN], int8 = dims[D_INT8], D = C / H;
    if (pos < 0 || pos >= Tmax) return -1;
    /* ids index the embedding tables: out of range is an error, never a read past them */
    if (token < 0 || token >= dims[D_VOCAB]) return -2;
    for (int f = 0; f < n_anchor; f++)
        if (anchor[f] < 0 || anchor[f] >= dims[D_FEATURES]) return -2;
    float *x = scratch, *h = x + C, *qkv = h + C, *y = qkv + 3 * C, *hid = y + C, *att = hid + F;
    uint8_t *xq = (uint8_t *)(att + Tmax); /* the quantised input of an int8 linear layer */

    pool_wake(pool); /* the workers wake while the embedding is summed */
    /* embedding: the move's own row (none for POS), plus the feature sum of the token's row
     * (the board for POS; the board after the move and ratings for models that read them), plus the position */
    const float *pos_row = (const float *)weights[W_POS] + (size_t)pos * C;
    if (token == dims[D_POS_ID])
        memset(x, 0, sizeof(float) * C);
    else
        memcpy(x, (const float *)weights[W_TOK] + (size_t)token * C, sizeof(float) * C);
    for (int f = 0; f < n_anchor; f++) {
        if (anchor[f] == dims[D_PAD_FEATURE]) continue; /* a zero row: skip the read */
        const float *row = (const float *)weights[W_FEAT] + (size_t)anchor[f] * C;
        for (int c = 0; c < C; c++) x[c] += row[c];
    }
    for (int c = 0; c < C; c++) x[c] += pos_row[c];

    const float scale = 1.f / sqrtf((float)D);
    for (int l = 0; l < L; l++) {
        const void *const *w = weights + W_GLOBAL + (size_t)l * W_PER_LAYER;
        float *kc = k_cache + (size_t)l * layer_stride, *vc = v_cache + (size_t)l * layer_stride;
        layer_norm(x, (const float *)w[L_LN1], h, C);
        linear(pool, w + L_QKV, int8, h, xq, qkv, 3 * C, C, 0); /* [3C]: q, k, v */
        for (int hd = 0; hd < H; hd++) {
            const float *q = qkv + hd * D;
            float *krow = kc + ((size_t)hd * Tmax) * D, *vrow = vc + ((size_t)hd * Tmax) * D; /* [Tmax, D] */
            memcpy(krow + (size_t)pos * D, qkv + C + hd * D, sizeof(float) * D);
            memcpy(vrow + (size_t)pos * D, qkv + 2 * C + hd * D, sizeof(float) * D);
            float top = -INFINITY;
            for (int64_t j = 0; j <= pos; j++) { /* cached positions and the new token itself */
                const float *kj = krow + (size_t)j * D;
                float s = 0.f;
#pragma omp simd reduction(+ : s)
                for (int d = 0; d < D; d++) s += q[d] * kj[d];
                att[j] = s * scale;
                top = att[j] > top ? att[j] : top;
            }
            float total = 0.f;
            for (int64_t j = 0; j <= pos; j++) total += (att[j] = expf(att[j] - top));
            float *out = y + hd * D;
            memset(out, 0, sizeof(float) * D);
            for (int64_t j = 0; j <= pos; j++) {
                const float p = att[j] / total, *vj = vrow + (size_t)j * D;
#pragma omp simd
                for (int d = 0; d < D; d++) out[d] += p * vj[d];
            }
        }
        linear(pool, w + L_PROJ, int8, y, xq, x, C, C, 1);
        layer_norm(x, (const float *)w[L_LN2], h, C);
        linear(pool, w + L_FC, int8, h, xq, hid, F, C, 0);
        for (int i = 0; i < F; i++) hid[i] = 0.5f * hid[i] * (1.f + erff(hid[i] * 0.70710678118654752f)); /* exact GELU */
        linear(pool, w + L_MPROJ, int8, hid, xq, x, C, F, 1);
    }
    layer_norm(x, (const float *)weights[W_LNF], h, C);
    linear(pool, weights + W_POLICY, int8, h, xq, policy, dims[D_MOVES], C, 0);
    pool_sleep(pool);
    matvec_f32((const float *)weights[W_VALUE], h, value, 0, 3, C, 0);
    for (int i = 0; i < 3; i++) value[i] += ((const float *)weights[W_VALUE_B])[i];
    return 0;
}
