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
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* dims[], in this order */
enum { D_LAYER, D_HEAD, D_EMBD, D_HIDDEN, D_MOVES, D_MAX_LEN, D_POS_ID, D_INT8, D_COUNT };

/* weights[], in this order: the globals, then W_PER_LAYER pointers per layer. A linear layer
 * is three pointers: its weights, and for int8 its row scales (float) and row sums (int32). */
enum { W_TOK, W_FEAT, W_POS, W_LNF, W_POLICY, W_POLICY_S, W_POLICY_R, W_VALUE, W_VALUE_B, W_GLOBAL };
enum { L_LN1, L_LN2, L_QKV, L_PROJ = L_QKV + 3, L_FC = L_PROJ + 3, L_MPROJ = L_FC + 3, W_PER_LAYER = L_MPROJ + 3 };

int cf_abi_version(void) { return 2; }

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

/* y[o] (+)= W[o, :] . x for o < n_out; four rows at a time so the loads of x are shared.
 * At batch 1 this streams the weights once: bound by memory bandwidth, not arithmetic. */
static void matvec_f32(const float *W, const float *x, float *y, int n_out, int n_in, int accumulate) {
    int o = 0;
    for (; o + 4 <= n_out; o += 4) {
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
    for (; o < n_out; o++) {
        const float *w = W + (size_t)o * n_in;
        float a = 0.f;
#pragma omp simd reduction(+ : a)
        for (int i = 0; i < n_in; i++) a += w[i] * x[i];
        y[o] = accumulate ? y[o] + a : a;
    }
}

/* Dynamic int8, as torch's quantize_dynamic: x is quantised per call (symmetric, one scale),
 * shifted by 128 to unsigned bytes, and each row's integer dot product is corrected by
 * 128 * (the row's weight sum). The byte-times-byte loop into int32 is what AVX-512 VNNI's
 * vpdpbusd does, 64 products an instruction, and compilers emit it for this loop. */
static void matvec_i8(const int8_t *W, const float *s, const int32_t *rowsum, const float *x, uint8_t *xq, float *y,
                      int n_out, int n_in, int accumulate) {
    float top = 0.f;
    for (int i = 0; i < n_in; i++) top = fmaxf(top, fabsf(x[i]));
    const float sx = top > 0.f ? top / 127.f : 1.f, inv = 1.f / sx;
    for (int i = 0; i < n_in; i++) xq[i] = (uint8_t)(int)(x[i] * inv + 128.5f); /* round half up, in 1..255 */
    for (int o = 0; o < n_out; o++) {
        const int8_t *w = W + (size_t)o * n_in;
        int32_t a = 0;
        for (int i = 0; i < n_in; i++) a += w[i] * xq[i];
        const float v = (float)(a - 128 * rowsum[o]) * s[o] * sx;
        y[o] = accumulate ? y[o] + v : v;
    }
}

/* One linear layer: w points at its weights, and for int8 its scales and row sums. */
static void linear(const void *const *w, int int8, const float *x, uint8_t *xq, float *y, int n_out, int n_in, int acc) {
    if (int8)
        matvec_i8((const int8_t *)w[0], (const float *)w[1], (const int32_t *)w[2], x, xq, y, n_out, n_in, acc);
    else
        matvec_f32((const float *)w[0], x, y, n_out, n_in, acc);
}

/* Decode one token at position pos: writes its keys and values into the cache at pos, the
 * move logits to policy[n_moves] and the win/draw/loss logits to value[3]. anchor holds
 * n_anchor feature ids (the board of a POS token; padding rows of feat_emb are zero).
 * Returns 0, or -1 if pos is outside the cache. */
int cf_decode(const int32_t *dims, const void *const *weights, int64_t token, const int64_t *anchor, int n_anchor,
              int64_t pos, float *k_cache, float *v_cache, int64_t layer_stride, float *policy, float *value,
              float *scratch) {
    const int L = dims[D_LAYER], H = dims[D_HEAD], C = dims[D_EMBD], F = dims[D_HIDDEN];
    const int Tmax = dims[D_MAX_LEN], int8 = dims[D_INT8], D = C / H;
    if (pos < 0 || pos >= Tmax) return -1;
    float *x = scratch, *h = x + C, *qkv = h + C, *y = qkv + 3 * C, *hid = y + C, *att = hid + F;
    uint8_t *xq = (uint8_t *)(att + Tmax); /* the quantised input of an int8 linear layer */

    /* embedding: the board's feature sum for POS, the move's own row otherwise, plus the position */
    const float *pos_row = (const float *)weights[W_POS] + (size_t)pos * C;
    if (token == dims[D_POS_ID]) {
        memset(x, 0, sizeof(float) * C);
        for (int f = 0; f < n_anchor; f++) {
            const float *row = (const float *)weights[W_FEAT] + (size_t)anchor[f] * C;
            for (int c = 0; c < C; c++) x[c] += row[c];
        }
    } else {
        memcpy(x, (const float *)weights[W_TOK] + (size_t)token * C, sizeof(float) * C);
    }
    for (int c = 0; c < C; c++) x[c] += pos_row[c];

    const float scale = 1.f / sqrtf((float)D);
    for (int l = 0; l < L; l++) {
        const void *const *w = weights + W_GLOBAL + (size_t)l * W_PER_LAYER;
        float *kc = k_cache + (size_t)l * layer_stride, *vc = v_cache + (size_t)l * layer_stride;
        layer_norm(x, (const float *)w[L_LN1], h, C);
        linear(w + L_QKV, int8, h, xq, qkv, 3 * C, C, 0); /* [3C]: q, k, v */
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
        linear(w + L_PROJ, int8, y, xq, x, C, C, 1);
        layer_norm(x, (const float *)w[L_LN2], h, C);
        linear(w + L_FC, int8, h, xq, hid, F, C, 0);
        for (int i = 0; i < F; i++) hid[i] = 0.5f * hid[i] * (1.f + erff(hid[i] * 0.70710678118654752f)); /* exact GELU */
        linear(w + L_MPROJ, int8, hid, xq, x, C, F, 1);
    }
    layer_norm(x, (const float *)weights[W_LNF], h, C);
    linear(weights + W_POLICY, int8, h, xq, policy, dims[D_MOVES], C, 0);
    matvec_f32((const float *)weights[W_VALUE], h, value, 3, C, 0);
    for (int i = 0; i < 3; i++) value[i] += ((const float *)weights[W_VALUE_B])[i];
    return 0;
}
