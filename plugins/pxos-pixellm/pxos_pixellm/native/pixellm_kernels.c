/* The pixellm forward pass in C: the same function as pxos_pixellm/model.py, on the stored weights.
 *
 * Weights are used where they lie in the model container's payload, in their stored encoding:
 * fp32, fp16 (F16C), bf16, or int8 in blocks of 32 with one fp16 scale a block. int8 matrices are
 * multiplied on the blocks: each activation row is quantized to int8 blocks of 32 too, and two
 * blocks' dot product is taken in integers (AVX2 maddubs), then scaled, as llama.cpp's Q8_0 does.
 * Work is split over OpenMP threads by output rows and attention heads, inside one parallel region
 * per call, so a decoded token costs one fork and a barrier per step.
 *
 * Compiled on first use by pxos_pixellm/native/__init__.py with the machine's C compiler; the
 * Python side lays the structs below out with ctypes, field for field.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define PXL_AVX2 1
#endif

enum { PXL_F32 = 0, PXL_F16 = 1, PXL_Q8 = 2, PXL_BF16 = 3 };
#define QBLOCK 32

typedef struct {
    const void *data;        /* values (f32, f16, bf16) or int8 codes, rows x cols */
    const uint16_t *scales;  /* q8: one fp16 scale per block of 32 codes, rows x cols / 32 */
    const float *bias;       /* NULL or rows values */
    int32_t type, rows, cols, pad;
} pxl_matrix;

typedef struct {
    const float *attn_norm, *mlp_norm;
    pxl_matrix q, k, v, o, gate, up, down;
} pxl_layer;

typedef struct {
    int32_t dim, hidden, layers, heads, kv_heads, head_dim, vocab, max_pos, window, pad0;
    float eps;
    int32_t pad1;
    pxl_matrix embed, head;
    const float *final_norm;
    const float *cos, *sin;  /* max_pos x head_dim / 2 */
    const pxl_layer *layer;
} pxl_model;

int pxl_abi_version(void) { return 2; }

int pxl_set_threads(int threads) {
#ifdef _OPENMP
    if (threads > 0) omp_set_num_threads(threads);
    return omp_get_max_threads();
#else
    (void)threads;
    return 1;
#endif
}

/* -- scalar conversions ------------------------------------------------------------------- */

static inline float f16_to_f32(uint16_t h) {
#ifdef PXL_AVX2
    return _cvtsh_ss(h);
#else
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) bits = sign;
        else {
            exp = 127 - 15 + 1;
            while (!(mant & 0x400)) { mant <<= 1; exp--; }
            bits = sign | (exp << 23) | ((mant & 0x3ff) << 13);
        }
    } else if (exp == 31) bits = sign | 0x7f800000 | (mant << 13);
    else bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f;
#endif
}

static inline float bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

#ifdef PXL_AVX2
static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#endif

/* -- dot products of one weight row with one activation row ---------------------------------- */

static float dot_f32(const float *w, const float *x, int n) {
    int i = 0;
    float sum = 0.0f;
#ifdef PXL_AVX2
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 16), _mm256_loadu_ps(x + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 24), _mm256_loadu_ps(x + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
    sum = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
#endif
    for (; i < n; i++) sum += w[i] * x[i];
    return sum;
}

static float dot_f16(const uint16_t *w, const float *x, int n) {
    int i = 0;
    float sum = 0.0f;
#ifdef PXL_AVX2
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i))), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i + 8))), _mm256_loadu_ps(x + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i + 16))), _mm256_loadu_ps(x + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i + 24))), _mm256_loadu_ps(x + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8)
        a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i))), _mm256_loadu_ps(x + i), a0);
    sum = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
#endif
    for (; i < n; i++) sum += f16_to_f32(w[i]) * x[i];
    return sum;
}

static float dot_bf16(const uint16_t *w, const float *x, int n) {
    int i = 0;
    float sum = 0.0f;
#ifdef PXL_AVX2
    __m256 a0 = _mm256_setzero_ps();
    for (; i + 8 <= n; i += 8) {
        __m256i bits = _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(w + i))), 16);
        a0 = _mm256_fmadd_ps(_mm256_castsi256_ps(bits), _mm256_loadu_ps(x + i), a0);
    }
    sum = hsum(a0);
#endif
    for (; i < n; i++) sum += bf16_to_f32(w[i]) * x[i];
    return sum;
}

/* Both rows in int8 blocks of 32: sum over blocks of wscale * xscale * (integer dot product). */
static float dot_q8(const int8_t *w, const uint16_t *ws, const int8_t *x, const float *xs, int blocks) {
    int b = 0;
    float sum = 0.0f;
#ifdef PXL_AVX2
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    for (; b + 2 <= blocks; b += 2) {
        __m256i w0 = _mm256_loadu_si256((const __m256i *)(w + b * QBLOCK));
        __m256i x0 = _mm256_loadu_si256((const __m256i *)(x + b * QBLOCK));
        __m256i w1 = _mm256_loadu_si256((const __m256i *)(w + (b + 1) * QBLOCK));
        __m256i x1 = _mm256_loadu_si256((const __m256i *)(x + (b + 1) * QBLOCK));
        __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w0, w0), _mm256_sign_epi8(x0, w0)), ones);
        __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w1, w1), _mm256_sign_epi8(x1, w1)), ones);
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(f16_to_f32(ws[b]) * xs[b]), _mm256_cvtepi32_ps(p0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(f16_to_f32(ws[b + 1]) * xs[b + 1]), _mm256_cvtepi32_ps(p1), acc1);
    }
    for (; b < blocks; b++) {
        __m256i w0 = _mm256_loadu_si256((const __m256i *)(w + b * QBLOCK));
        __m256i x0 = _mm256_loadu_si256((const __m256i *)(x + b * QBLOCK));
        __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w0, w0), _mm256_sign_epi8(x0, w0)), ones);
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(f16_to_f32(ws[b]) * xs[b]), _mm256_cvtepi32_ps(p0), acc0);
    }
    sum = hsum(_mm256_add_ps(acc0, acc1));
#else
    for (; b < blocks; b++) {
        int32_t isum = 0;
        for (int j = 0; j < QBLOCK; j++) isum += (int32_t)w[b * QBLOCK + j] * (int32_t)x[b * QBLOCK + j];
        sum += f16_to_f32(ws[b]) * xs[b] * (float)isum;
    }
#endif
    return sum;
}

/* Four activation rows against one weight row at once: each weight vector is loaded once for all four
 * (prefill and evaluation multiply many tokens; this is what makes them compute-bound, not load-bound). */
#ifdef PXL_AVX2
static inline __m256 load8(const void *w, int type, int i) {
    if (type == PXL_F16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i)));
    if (type == PXL_BF16)
        return _mm256_castsi256_ps(_mm256_slli_epi32(
            _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i))), 16));
    return _mm256_loadu_ps((const float *)w + i);
}

static int dot4_float(const void *w, int type, const float *x, int stride, int n, float *out) {
    if (n % 8) return 0;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 8) {
        __m256 v = load8(w, type, i);
        a0 = _mm256_fmadd_ps(v, _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(v, _mm256_loadu_ps(x + stride + i), a1);
        a2 = _mm256_fmadd_ps(v, _mm256_loadu_ps(x + 2 * stride + i), a2);
        a3 = _mm256_fmadd_ps(v, _mm256_loadu_ps(x + 3 * stride + i), a3);
    }
    out[0] = hsum(a0); out[1] = hsum(a1); out[2] = hsum(a2); out[3] = hsum(a3);
    return 1;
}

static void dot4_q8(const int8_t *w, const uint16_t *ws, const int8_t *x, const float *xs, int cols, float *out) {
    const int blocks = cols / QBLOCK;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int b = 0; b < blocks; b++) {
        __m256i wv = _mm256_loadu_si256((const __m256i *)(w + b * QBLOCK));
        __m256i aw = _mm256_sign_epi8(wv, wv);
        float d = f16_to_f32(ws[b]);
        for (int t = 0; t < 4; t++) {
            __m256i xv = _mm256_loadu_si256((const __m256i *)(x + (size_t)t * cols + b * QBLOCK));
            __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(aw, _mm256_sign_epi8(xv, wv)), ones);
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * xs[(size_t)t * blocks + b]), _mm256_cvtepi32_ps(p), acc[t]);
        }
    }
    for (int t = 0; t < 4; t++) out[t] = hsum(acc[t]);
}
#endif

/* -- the building blocks (called inside the parallel region) --------------------------------- */

/* Activation rows to int8 blocks: scale = max |x| / 127 per block (every thread takes some rows). */
static void quantize_rows(const float *x, int n, int cols, int8_t *q, float *scales) {
    int blocks = cols / QBLOCK;
#pragma omp for schedule(static)
    for (int i = 0; i < n * blocks; i++) {
        const float *src = x + (size_t)i * QBLOCK;
        float amax = 0.0f;
        for (int j = 0; j < QBLOCK; j++) amax = fmaxf(amax, fabsf(src[j]));
        float d = amax / 127.0f, inv = d > 0.0f ? 1.0f / d : 0.0f;
        scales[i] = d;
        for (int j = 0; j < QBLOCK; j++) q[(size_t)i * QBLOCK + j] = (int8_t)lrintf(src[j] * inv);
    }
}

/* y[t][r] = w[r] . x[t] + bias[r] for t < n. The caller quantized x into (xq, xs) for q8 weights.
 * Rows are split over threads; each row is read once and used for every token. No barrier at the end. */
static void matmul(const pxl_matrix *w, const float *x, int n, float *y, int ystride,
                   const int8_t *xq, const float *xs) {
    const int cols = w->cols, blocks = cols / QBLOCK;
#pragma omp for schedule(static) nowait
    for (int r = 0; r < w->rows; r++) {
        const float bias = w->bias ? w->bias[r] : 0.0f;
        int t = 0;
#ifdef PXL_AVX2
        for (; t + 4 <= n; t += 4) {
            float four[4];
            if (w->type == PXL_Q8)
                dot4_q8((const int8_t *)w->data + (size_t)r * cols, w->scales + (size_t)r * blocks,
                        xq + (size_t)t * cols, xs + (size_t)t * blocks, cols, four);
            else if (!dot4_float((const char *)w->data + (size_t)r * cols * (w->type == PXL_F32 ? 4 : 2), w->type,
                                 x + (size_t)t * cols, cols, cols, four))
                break;
            for (int j = 0; j < 4; j++) y[(size_t)(t + j) * ystride + r] = four[j] + bias;
        }
#endif
        for (; t < n; t++) {
            float v;
            switch (w->type) {
            case PXL_F16: v = dot_f16((const uint16_t *)w->data + (size_t)r * cols, x + (size_t)t * cols, cols); break;
            case PXL_BF16: v = dot_bf16((const uint16_t *)w->data + (size_t)r * cols, x + (size_t)t * cols, cols); break;
            case PXL_Q8:
                v = dot_q8((const int8_t *)w->data + (size_t)r * cols, w->scales + (size_t)r * blocks,
                           xq + (size_t)t * cols, xs + (size_t)t * blocks, blocks);
                break;
            default: v = dot_f32((const float *)w->data + (size_t)r * cols, x + (size_t)t * cols, cols);
            }
            y[(size_t)t * ystride + r] = v + bias;
        }
    }
}

static void row_of(const pxl_matrix *w, int r, float *out) {
    const int cols = w->cols;
    if (w->type == PXL_F32) memcpy(out, (const float *)w->data + (size_t)r * cols, sizeof(float) * cols);
    else if (w->type == PXL_F16) for (int j = 0; j < cols; j++) out[j] = f16_to_f32(((const uint16_t *)w->data)[(size_t)r * cols + j]);
    else if (w->type == PXL_BF16) for (int j = 0; j < cols; j++) out[j] = bf16_to_f32(((const uint16_t *)w->data)[(size_t)r * cols + j]);
    else {
        const int8_t *codes = (const int8_t *)w->data + (size_t)r * cols;
        const uint16_t *scales = w->scales + (size_t)r * (cols / QBLOCK);
        for (int j = 0; j < cols; j++) out[j] = (float)codes[j] * f16_to_f32(scales[j / QBLOCK]);
    }
}

static void rms_norm(const float *x, const float *weight, float *out, int n, int dim, float eps) {
#pragma omp for schedule(static)
    for (int t = 0; t < n; t++) {
        const float *row = x + (size_t)t * dim;
        float ss = 0.0f;
        for (int j = 0; j < dim; j++) ss += row[j] * row[j];
        float scale = 1.0f / sqrtf(ss / dim + eps);
        for (int j = 0; j < dim; j++) out[(size_t)t * dim + j] = row[j] * scale * weight[j];
    }
}

/* Rotate-half rotary embedding of `heads` heads of one token at position pos, in place. */
static void rope(float *v, int heads, int hd, const float *cos, const float *sin) {
    const int half = hd / 2;
    for (int h = 0; h < heads; h++) {
        float *x = v + (size_t)h * hd;
        for (int j = 0; j < half; j++) {
            float a = x[j], b = x[j + half];
            x[j] = a * cos[j] - b * sin[j];
            x[j + half] = b * cos[j] + a * sin[j];
        }
    }
}

static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

/* Working memory of one call for n tokens attending over `end` positions. */
typedef struct {
    float *xb, *q, *k, *v, *att, *hb, *hb2, *scores, *xs;
    int8_t *xq;
} pxl_scratch;

static void scratch_free(pxl_scratch *s) {
    free(s->xb); free(s->q); free(s->k); free(s->v); free(s->att); free(s->hb); free(s->hb2); free(s->scores);
    free(s->xq); free(s->xs);
}

static int scratch_alloc(const pxl_model *m, int n, int end, pxl_scratch *s) {
    const size_t qw = (size_t)m->heads * m->head_dim, kvw = (size_t)m->kv_heads * m->head_dim;
    const size_t widest = max_size(max_size((size_t)m->dim, (size_t)m->hidden), qw);
#ifdef _OPENMP
    const int workers = omp_get_max_threads();
#else
    const int workers = 1;
#endif
    s->xb = malloc(sizeof(float) * n * widest);
    s->q = malloc(sizeof(float) * n * qw);
    s->k = malloc(sizeof(float) * n * kvw);
    s->v = malloc(sizeof(float) * n * kvw);
    s->att = malloc(sizeof(float) * n * qw);
    s->hb = malloc(sizeof(float) * n * m->hidden);
    s->hb2 = malloc(sizeof(float) * n * m->hidden);
    s->scores = malloc(sizeof(float) * (size_t)workers * end);  /* one row of attention scores per thread */
    s->xq = malloc(n * widest);
    s->xs = malloc(sizeof(float) * n * (widest / QBLOCK + 1));
    if (!s->xb || !s->q || !s->k || !s->v || !s->att || !s->hb || !s->hb2 || !s->scores || !s->xq || !s->xs) {
        scratch_free(s);
        return -1;
    }
    return 0;
}

/* The pieces of the pass; each runs inside a parallel region (its worksharing loops are orphaned). */

static void embed_body(const pxl_model *m, const int32_t *ids, int n, float *x) {
#pragma omp for schedule(static)
    for (int t = 0; t < n; t++) row_of(&m->embed, ids[t], x + (size_t)t * m->dim);
}

static void layers_body(const pxl_model *m, float *keys, float *values, int capacity, float *x, int n, int pos,
                        int first_layer, int last_layer, pxl_scratch *S) {
    const int dim = m->dim, hd = m->head_dim, heads = m->heads, kvh = m->kv_heads, group = heads / kvh;
    const int qw = heads * hd, kvw = kvh * hd, hidden = m->hidden, end = pos + n;
    const float scale = 1.0f / sqrtf((float)hd);
    float *xb = S->xb, *q = S->q, *k = S->k, *v = S->v, *att = S->att, *hb = S->hb, *hb2 = S->hb2;
    int8_t *xq = S->xq;
    float *xs = S->xs;
    for (int l = first_layer; l < last_layer; l++) {
        const pxl_layer *L = &m->layer[l];
        rms_norm(x, L->attn_norm, xb, n, dim, m->eps);
        if (L->q.type == PXL_Q8 || L->k.type == PXL_Q8 || L->v.type == PXL_Q8) quantize_rows(xb, n, dim, xq, xs);
        matmul(&L->q, xb, n, q, qw, xq, xs);
        matmul(&L->k, xb, n, k, kvw, xq, xs);
        matmul(&L->v, xb, n, v, kvw, xq, xs);
#pragma omp barrier
#pragma omp for schedule(static)
        for (int t = 0; t < n; t++) {
            const float *c = m->cos + (size_t)(pos + t) * (hd / 2), *s = m->sin + (size_t)(pos + t) * (hd / 2);
            rope(q + (size_t)t * qw, heads, hd, c, s);
            rope(k + (size_t)t * kvw, kvh, hd, c, s);
            for (int g = 0; g < kvh; g++) {
                size_t at = (((size_t)l * kvh + g) * capacity + pos + t) * hd;
                memcpy(keys + at, k + (size_t)t * kvw + (size_t)g * hd, sizeof(float) * hd);
                memcpy(values + at, v + (size_t)t * kvw + (size_t)g * hd, sizeof(float) * hd);
            }
        }
#pragma omp for schedule(static)
        for (int th = 0; th < n * heads; th++) {
            const int t = th / heads, h = th % heads, g = h / group, here = pos + t;
            const int first = m->window > 0 && here - m->window + 1 > 0 ? here - m->window + 1 : 0;
            const float *qv = q + (size_t)t * qw + (size_t)h * hd;
            const float *kb = keys + ((size_t)l * kvh + g) * capacity * hd;
            const float *vb = values + ((size_t)l * kvh + g) * capacity * hd;
#ifdef _OPENMP
            float *sc = S->scores + (size_t)omp_get_thread_num() * end, top = -INFINITY, total = 0.0f;
#else
            float *sc = S->scores, top = -INFINITY, total = 0.0f;
#endif
            for (int j = first; j <= here; j++) {
                sc[j] = dot_f32(kb + (size_t)j * hd, qv, hd) * scale;
                top = fmaxf(top, sc[j]);
            }
            for (int j = first; j <= here; j++) { sc[j] = expf(sc[j] - top); total += sc[j]; }
            float *out = att + (size_t)t * qw + (size_t)h * hd;
            memset(out, 0, sizeof(float) * hd);
            for (int j = first; j <= here; j++) {
                const float p = sc[j] / total, *vr = vb + (size_t)j * hd;
                for (int d = 0; d < hd; d++) out[d] += p * vr[d];
            }
        }
        if (L->o.type == PXL_Q8) quantize_rows(att, n, qw, xq, xs);
        matmul(&L->o, att, n, xb, dim, xq, xs);
#pragma omp barrier
#pragma omp for schedule(static)
        for (int i = 0; i < n * dim; i++) x[i] += xb[i];
        rms_norm(x, L->mlp_norm, xb, n, dim, m->eps);
        if (L->gate.type == PXL_Q8 || L->up.type == PXL_Q8) quantize_rows(xb, n, dim, xq, xs);
        matmul(&L->gate, xb, n, hb, hidden, xq, xs);
        matmul(&L->up, xb, n, hb2, hidden, xq, xs);
#pragma omp barrier
#pragma omp for schedule(static)
        for (int i = 0; i < n * hidden; i++) hb[i] = hb[i] / (1.0f + expf(-hb[i])) * hb2[i];
        if (L->down.type == PXL_Q8) quantize_rows(hb, n, hidden, xq, xs);
        matmul(&L->down, hb, n, xb, dim, xq, xs);
#pragma omp barrier
#pragma omp for schedule(static)
        for (int i = 0; i < n * dim; i++) x[i] += xb[i];
    }
}

static void logits_body(const pxl_model *m, const float *x, int n, float *logits, pxl_scratch *S) {
    rms_norm(x, m->final_norm, S->xb, n, m->dim, m->eps);
    if (m->head.type == PXL_Q8) quantize_rows(S->xb, n, m->dim, S->xq, S->xs);
    matmul(&m->head, S->xb, n, logits, m->vocab, S->xq, S->xs);
}

/* The hidden states (n x dim) of token ids. */
int pxl_embed(const pxl_model *m, const int32_t *ids, int n, float *x) {
#pragma omp parallel
    embed_body(m, ids, n, x);
    return 0;
}

/* Layers first..last-1 over hidden states x (n x dim, in place) at positions pos..pos+n-1; writes their
 * keys and values into the cache (layers x kv_heads x capacity x head_dim). Returns 0, or -1 without memory. */
int pxl_layers(const pxl_model *m, float *keys, float *values, int capacity, float *x, int n, int pos,
               int first_layer, int last_layer) {
    pxl_scratch S;
    if (scratch_alloc(m, n, pos + n, &S)) return -1;
#pragma omp parallel
    layers_body(m, keys, values, capacity, x, n, pos, first_layer, last_layer, &S);
    scratch_free(&S);
    return 0;
}

/* The final norm and the output head over hidden states x (n x dim): logits (n x vocab). */
int pxl_logits(const pxl_model *m, const float *x, int n, float *logits) {
    pxl_scratch S;
    if (scratch_alloc(m, n, 1, &S)) return -1;
#pragma omp parallel
    logits_body(m, x, n, logits, &S);
    scratch_free(&S);
    return 0;
}

/* The three pieces in one parallel region (what a decoded token costs): logits for `n` tokens `ids` at
 * positions pos..pos+n-1, n rows (all_logits) or the last one. Returns 0, or -1 when memory runs out. */
int pxl_forward(const pxl_model *m, float *keys, float *values, int capacity, const int32_t *ids, int n, int pos,
                float *logits, int all_logits) {
    pxl_scratch S;
    float *x = malloc(sizeof(float) * n * m->dim);
    if (!x || scratch_alloc(m, n, pos + n, &S)) {
        free(x);
        return -1;
    }
    const int rows = all_logits ? n : 1;
#pragma omp parallel
    {
        embed_body(m, ids, n, x);
        layers_body(m, keys, values, capacity, x, n, pos, 0, m->layers, &S);
        logits_body(m, x + (size_t)(n - rows) * m->dim, rows, logits, &S);
    }
    scratch_free(&S);
    free(x);
    return 0;
}
