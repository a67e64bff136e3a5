/* 3x3 sum products by Winograd's F(2x2, 3x3), written once against T and
 * FN(), included by conv_products.h, whose sum products call it.
 *
 * Each 2x2 block of outputs (a tile) of a 3x3 convolution with unit stride
 * and padding 1 is A^T [(G g G^T) . (B^T d B)] A for the tile's 4x4 input
 * patch d and kernel g: per tile and channel pair, 16 multiplies where the
 * direct product takes 36. Per sample and block of tile rows (V and M of a
 * whole 224x224 layer would be 4x its input and output, far past the
 * cache), in three passes over the threads:
 *   V_xi = B^T d B of every (input channel, tile)         16 x (C x P)
 *   M_xi = U_xi V_xi, U_xi = G g G^T of every (out, in)   16 products
 *   out  = A^T M A of every (output channel, tile), then + beta (forward)
 *          or times a (the transposed pass)
 * The transforms' coefficients are 0, +-1 and 1/2, so each output differs
 * from the direct sum by a few roundings of its terms' magnitudes; the
 * order of every sum is fixed, whatever the thread count or batch.
 *
 * Deep layers only (conv_winograd_pays). */

#define WINOGRAD_XI 16
/* Tiles per block: V and M of a block, 16 values per tile and channel,
 * stay within a few megabytes (the cache) on layers of 512 channels. */
#define WINOGRAD_BLOCK 1024

/* The geometry F(2x2, 3x3) computes here: a 3x3 kernel, unit stride and
 * dilation, padding 1, one group; the output grid is the input grid. */
static int FN(conv_winograd_fits)(const lrp_conv_shape *v)
{
    return v->k_h == 3 && v->k_w == 3 && v->stride_h == 1 && v->stride_w == 1 &&
           v->dil_h == 1 && v->dil_w == 1 && v->pad_h == 1 && v->pad_w == 1 &&
           v->groups == 1 && v->out_h == v->in_h && v->out_w == v->in_w;
}

/* Worth it (measured per VGG-16 layer, forward and transposed pass, against
 * the packed product): at least 64 channels on both sides, so the
 * transforms are small beside the products, and 196 tiles per sample at
 * least: at 14x14 (49 tiles) the 16 products reread their 16/9-times-larger
 * weights for too few columns. */
static int FN(conv_winograd_pays)(const lrp_conv_shape *v)
{
    const ptrdiff_t tiles = (v->out_h + 1) / 2 * ((v->out_w + 1) / 2);
    return FN(conv_winograd_fits)(v) && v->in_c >= 64 && v->out_c >= 64 && tiles >= 196;
}

typedef struct {
    const lrp_conv_shape *v;
    const T *x;       /* this sample's input (C, H, W) */
    const T *w;       /* the layer's weights */
    int kind, flipped;
    T gamma;
    ptrdiff_t tiles_w;        /* tiles per row */
    ptrdiff_t ty0, tiles;     /* this block: its first tile row, its tiles */
    T *u;             /* packed A of each xi, u_stride apart */
    size_t u_stride;
    T *vx, *m;        /* V and M of this block, xi-major */
    T *out;           /* this sample's output (K, H, W) */
    const T *bias;    /* forward: beta per output channel */
    const T *scale;   /* transposed pass: a of this sample, shaped as out */
    int mr;
} FN(winograd);

/* U_xi row co, column ci, in FN(pack_a)'s layout, for the rows of one
 * panel. flipped: the transposed pass's kernel, W[ci][co] turned by 180
 * degrees. The panel's rows are the lanes of every step (the compiler makes
 * vectors of them) and each (panel, ci) writes its mr contiguous values of
 * all 16 U_xi at once: rows in the outer loop had revisited every cache
 * line of U once per row, 37% of a 512-channel layer's forward. */
#define WINOGRAD_LANES 8
static LRP_INLINE lrp_status FN(winograd_weights_items)(void *context, ptrdiff_t begin,
                                                        ptrdiff_t end, int worker,
                                                        lrp_team *team, int fused)
{
    const FN(winograd) *job = context;
    const lrp_conv_shape *v = job->v;
    const ptrdiff_t mr = job->mr, cin = v->in_c, cout = v->out_c;
    (void)fused;
    for (ptrdiff_t panel = begin; panel < end; panel++) {
        if (lrp_team_stop(team, worker))
            return LRP_ERR_INTERRUPTED;
        for (ptrdiff_t ci = 0; ci < cin; ci++) {
            T g[3][3][WINOGRAD_LANES], gt[4][3][WINOGRAD_LANES], u[4][4][WINOGRAD_LANES];
            for (ptrdiff_t r = 0; r < WINOGRAD_LANES; r++) {
                const ptrdiff_t co = panel * mr + r;
                const T *kernel = NULL;
                if (r < mr && co < cout)
                    kernel = job->flipped ? job->w + (ci * cout + co) * 9
                                          : job->w + (co * cin + ci) * 9;
                for (int y = 0; y < 3; y++)
                    for (int x = 0; x < 3; x++) {
                        T value = 0;
                        if (kernel)
                            value = job->flipped ? kernel[(2 - y) * 3 + 2 - x] : kernel[y * 3 + x];
                        g[y][x][r] = FN(rho)(job->kind, job->gamma, value);
                    }
            }
            for (int x = 0; x < 3; x++)
                for (int r = 0; r < WINOGRAD_LANES; r++) {
                    gt[0][x][r] = g[0][x][r];
                    gt[1][x][r] = (g[0][x][r] + g[1][x][r] + g[2][x][r]) * (T)0.5;
                    gt[2][x][r] = (g[0][x][r] - g[1][x][r] + g[2][x][r]) * (T)0.5;
                    gt[3][x][r] = g[2][x][r];
                }
            for (int y = 0; y < 4; y++)
                for (int r = 0; r < WINOGRAD_LANES; r++) {
                    u[y][0][r] = gt[y][0][r];
                    u[y][1][r] = (gt[y][0][r] + gt[y][1][r] + gt[y][2][r]) * (T)0.5;
                    u[y][2][r] = (gt[y][0][r] - gt[y][1][r] + gt[y][2][r]) * (T)0.5;
                    u[y][3][r] = gt[y][2][r];
                }
            T *dst = job->u + panel * cin * mr + ci * mr;
            for (int xi = 0; xi < WINOGRAD_XI; xi++)
                memcpy(dst + (size_t)xi * job->u_stride, u[xi / 4][xi % 4], (size_t)mr * sizeof(T));
        }
    }
    return LRP_OK;
}
LRP_ISA_TASKS(winograd_weights_task, FN(winograd_weights_items))

/* V of one input channel: the tiles row by row, each input row first
 * transformed along x for all tiles of the row (contiguous, vectorisable),
 * then the four rows of a tile row combined along y. */
static LRP_INLINE lrp_status FN(winograd_input_items)(void *context, ptrdiff_t begin,
                                                      ptrdiff_t end, int worker, lrp_team *team,
                                                      int fused)
{
    const FN(winograd) *job = context;
    const lrp_conv_shape *v = job->v;
    const ptrdiff_t h = v->in_h, wd = v->in_w, tw = job->tiles_w;
    const size_t plane = (size_t)v->in_c * (size_t)job->tiles;
    /* one padded input row, and four rows' x-transforms (4 values per tile) */
    T *buffer = lrp_alloc_array((size_t)(2 * tw + 2) + 16 * (size_t)tw, sizeof(T));
    if (!buffer)
        return LRP_ERR_NOMEM;
    T *row = buffer, *rt = buffer + 2 * tw + 2;
    lrp_status status = LRP_OK;
    (void)fused;
    for (ptrdiff_t c = begin; c < end; c++) {
        if (lrp_team_stop(team, worker)) {
            status = LRP_ERR_INTERRUPTED;
            break;
        }
        const T *x = job->x + c * h * wd;
        for (ptrdiff_t ty = job->ty0; ty < job->ty0 + job->tiles / tw; ty++) {
            const ptrdiff_t first = (ty - job->ty0) * tw;
            for (int r = 0; r < 4; r++) {
                const ptrdiff_t iy = 2 * ty - 1 + r;
                /* row[i] is column i - 1 of the input row, zero outside it */
                memset(row, 0, (size_t)(2 * tw + 2) * sizeof(T));
                if (iy >= 0 && iy < h)
                    memcpy(row + 1, x + iy * wd, (size_t)wd * sizeof(T));
                T *restrict t0 = rt + (4 * r + 0) * tw, *restrict t1 = rt + (4 * r + 1) * tw;
                T *restrict t2 = rt + (4 * r + 2) * tw, *restrict t3 = rt + (4 * r + 3) * tw;
                for (ptrdiff_t tx = 0; tx < tw; tx++) {
                    const T d0 = row[2 * tx], d1 = row[2 * tx + 1], d2 = row[2 * tx + 2],
                            d3 = row[2 * tx + 3];
                    t0[tx] = d0 - d2;
                    t1[tx] = d1 + d2;
                    t2[tx] = d2 - d1;
                    t3[tx] = d1 - d3;
                }
            }
            for (int j = 0; j < 4; j++) {
                const T *restrict s0 = rt + (0 + j) * tw, *restrict s1 = rt + (4 + j) * tw;
                const T *restrict s2 = rt + (8 + j) * tw, *restrict s3 = rt + (12 + j) * tw;
                T *restrict v0 = job->vx + (size_t)(0 + j) * plane + c * job->tiles + first;
                T *restrict v1 = job->vx + (size_t)(4 + j) * plane + c * job->tiles + first;
                T *restrict v2 = job->vx + (size_t)(8 + j) * plane + c * job->tiles + first;
                T *restrict v3 = job->vx + (size_t)(12 + j) * plane + c * job->tiles + first;
                for (ptrdiff_t tx = 0; tx < tw; tx++) {
                    v0[tx] = s0[tx] - s2[tx];
                    v1[tx] = s1[tx] + s2[tx];
                    v2[tx] = s2[tx] - s1[tx];
                    v3[tx] = s1[tx] - s3[tx];
                }
            }
        }
    }
    free(buffer);
    return status;
}
LRP_ISA_TASKS(winograd_input_task, FN(winograd_input_items))

/* The outputs of one output channel from its 16 rows of M, then the
 * epilogue: + beta, or times a. */
static LRP_INLINE lrp_status FN(winograd_output_items)(void *context, ptrdiff_t begin,
                                                       ptrdiff_t end, int worker, lrp_team *team,
                                                       int fused)
{
    const FN(winograd) *job = context;
    const lrp_conv_shape *v = job->v;
    const ptrdiff_t h = v->out_h, wd = v->out_w, tw = job->tiles_w;
    const size_t plane = (size_t)v->out_c * (size_t)job->tiles;
    T *buffer = lrp_alloc_array(8 * (size_t)tw + 4 * (size_t)tw, sizeof(T));
    if (!buffer)
        return LRP_ERR_NOMEM;
    T *at = buffer, *y = buffer + 8 * tw;
    lrp_status status = LRP_OK;
    (void)fused;
    for (ptrdiff_t k = begin; k < end; k++) {
        if (lrp_team_stop(team, worker)) {
            status = LRP_ERR_INTERRUPTED;
            break;
        }
        T *out = job->out + k * h * wd;
        const T *scale = job->scale ? job->scale + k * h * wd : NULL;
        const T beta = job->bias ? job->bias[k] : (T)0;
        for (ptrdiff_t ty = job->ty0; ty < job->ty0 + job->tiles / tw; ty++) {
            const ptrdiff_t first = (ty - job->ty0) * tw;
            /* along y: at[i][j] = A^T column j, output row i */
            for (int j = 0; j < 4; j++) {
                const T *restrict m0 = job->m + (size_t)(0 + j) * plane + k * job->tiles + first;
                const T *restrict m1 = job->m + (size_t)(4 + j) * plane + k * job->tiles + first;
                const T *restrict m2 = job->m + (size_t)(8 + j) * plane + k * job->tiles + first;
                const T *restrict m3 = job->m + (size_t)(12 + j) * plane + k * job->tiles + first;
                T *restrict a0 = at + j * tw, *restrict a1 = at + (4 + j) * tw;
                for (ptrdiff_t tx = 0; tx < tw; tx++) {
                    a0[tx] = m0[tx] + m1[tx] + m2[tx];
                    a1[tx] = m1[tx] - m2[tx] - m3[tx];
                }
            }
            for (int i = 0; i < 2; i++) {
                const ptrdiff_t oy = 2 * ty + i;
                if (oy >= h)
                    break;
                const T *restrict s0 = at + (4 * i + 0) * tw, *restrict s1 = at + (4 * i + 1) * tw;
                const T *restrict s2 = at + (4 * i + 2) * tw, *restrict s3 = at + (4 * i + 3) * tw;
                /* y[2 tx + jj] is output column 2 tx + jj of row oy */
                for (ptrdiff_t tx = 0; tx < tw; tx++) {
                    y[2 * tx] = s0[tx] + s1[tx] + s2[tx];
                    y[2 * tx + 1] = s1[tx] - s2[tx] - s3[tx];
                }
                T *restrict o = out + oy * wd;
                if (scale) {
                    const T *restrict sa = scale + oy * wd;
                    for (ptrdiff_t ox = 0; ox < wd; ox++)
                        o[ox] = sa[ox] * y[ox];
                } else {
                    for (ptrdiff_t ox = 0; ox < wd; ox++)
                        o[ox] = y[ox] + beta;
                }
            }
        }
    }
    free(buffer);
    return status;
}
LRP_ISA_TASKS(winograd_output_task, FN(winograd_output_items))

static const T *FN(winograd_a_of)(const FN(product) *p, ptrdiff_t q)
{
    const FN(winograd) *job = p->layer;
    return job->u + (size_t)q * job->u_stride;
}

static T *FN(winograd_c_of)(const FN(product) *p, ptrdiff_t q)
{
    const FN(winograd) *job = p->layer;
    return job->m + (size_t)q * (size_t)job->v->out_c * (size_t)job->tiles;
}

/* B of problem xi: rows [p0, p0 + kc) (input channels) by tiles [j0, j0 + nr)
 * of V_xi, zero past the last tile. */
static void FN(winograd_pack_b)(const FN(product) *p, ptrdiff_t q, ptrdiff_t p0, ptrdiff_t kc,
                                ptrdiff_t j0, int nr, T *restrict dst)
{
    const FN(winograd) *job = p->layer;
    const T *src = job->vx + (size_t)q * (size_t)job->v->in_c * (size_t)job->tiles;
    const ptrdiff_t cols = p->n - j0 < nr ? p->n - j0 : nr;
    for (ptrdiff_t pp = 0; pp < kc; pp++) {
        const T *restrict s = src + (p0 + pp) * job->tiles + j0;
        T *restrict d = dst + pp * nr;
        for (ptrdiff_t c = 0; c < cols; c++)
            d[c] = s[c];
        for (ptrdiff_t c = cols; c < nr; c++)
            d[c] = 0;
    }
}

/* U into data (the cache's build callback: context is the job). */
static lrp_status FN(winograd_weights_build)(void *context, void *data)
{
    FN(winograd) *job = context;
    const lrp_conv_shape *v = job->v;
    job->u = data;
    const ptrdiff_t panels = (v->out_c + job->mr - 1) / job->mr;
    const double weights = (double)v->out_c * (double)v->in_c * WINOGRAD_XI;
    return lrp_parallel_for_upto(panels, (ptrdiff_t)(weights / 65536.0),
                                 LRP_ISA_TASK(winograd_weights_task), job, v->interrupt);
}

/* The sum product of a fitting view (FN(conv_winograd_fits)): forward
 * (bias: + beta) or, flipped, the transposed pass (scale: times a), for
 * cp's x, into cp->out. U comes from the layer's cache when it has one. */
static lrp_status FN(conv_winograd_run)(FN(conv_product) *cp, int kind, T gamma, const T *w,
                                        int flipped, const lrp_interrupt *interrupt)
{
    const lrp_conv_shape *v = &cp->view;
    const FN(lrp_micro) *micro = FN(lrp_micro_for)();
    const ptrdiff_t tiles_w = (v->out_w + 1) / 2, tile_rows = (v->out_h + 1) / 2;
    /* whole tile rows, up to WINOGRAD_BLOCK tiles (one at least) */
    ptrdiff_t block_rows = WINOGRAD_BLOCK / tiles_w;
    block_rows = block_rows < 1 ? 1 : block_rows < tile_rows ? block_rows : tile_rows;
    const ptrdiff_t block = block_rows * tiles_w;
    size_t u_stride, u_count, v_count, m_count;
    if (micro->mr > WINOGRAD_LANES) /* the micro-kernels have 8 rows at most */
        return LRP_ERR_ARG;
    if (FN(packed_a_count)(v->out_c, v->in_c, micro->mr, &u_stride) != LRP_OK ||
        lrp_checked_count(0, (ptrdiff_t)u_stride, WINOGRAD_XI, &u_count) != LRP_OK ||
        lrp_checked_count(0, v->in_c * WINOGRAD_XI, (size_t)block, &v_count) != LRP_OK ||
        lrp_checked_count(0, v->out_c * WINOGRAD_XI, (size_t)block, &m_count) != LRP_OK ||
        v_count > SIZE_MAX - m_count)
        return LRP_ERR_NOMEM;
    FN(winograd) job = {.v = v, .w = w, .kind = kind, .flipped = flipped, .gamma = gamma,
                        .tiles_w = tiles_w, .u_stride = u_stride, .bias = cp->bias,
                        .mr = micro->mr};
    const lrp_cache_key key = {.form = LRP_FORM_WINOGRAD, .elem_size = (int)sizeof(T),
                               .isa = (int)lrp_current_isa(), .kind = kind,
                               .gamma = (double)gamma, .flipped = flipped, .mr = micro->mr,
                               .rows = v->out_c, .cols = v->in_c, .groups = 1, .taps = 9,
                               .count = u_count};
    lrp_status status;
    void *own_u;
    const T *kept = lrp_weights_prepared(v->cache, w, &key, FN(winograd_weights_build), &job,
                                         &own_u, &status);
    if (status != LRP_OK)
        return status;
    T *scratch = lrp_alloc_aligned(v_count + m_count, sizeof(T));
    if (!scratch) {
        free(own_u);
        return LRP_ERR_NOMEM;
    }
    job.u = (T *)kept; /* read only from here on */
    job.vx = scratch;
    job.m = scratch + v_count;
    const ptrdiff_t in_plane = v->in_c * v->in_h * v->in_w;
    const ptrdiff_t out_plane = v->out_c * v->out_h * v->out_w;
    for (ptrdiff_t n = 0; n < v->n && status == LRP_OK; n++) {
        job.x = cp->x + n * in_plane;
        job.out = cp->out + n * out_plane;
        job.scale = cp->scale ? cp->scale + n * out_plane : NULL;
        for (job.ty0 = 0; job.ty0 < tile_rows && status == LRP_OK; job.ty0 += block_rows) {
            const ptrdiff_t rows = tile_rows - job.ty0 < block_rows ? tile_rows - job.ty0
                                                                    : block_rows;
            job.tiles = rows * tiles_w;
            status = lrp_parallel_for(v->in_c, LRP_ISA_TASK(winograd_input_task), &job, interrupt);
            if (status != LRP_OK)
                break;
            FN(product) p = {.problems = WINOGRAD_XI, .m = v->out_c, .n = job.tiles,
                             .k = v->in_c, .max = 0, .a_of = FN(winograd_a_of),
                             .pack_b = FN(winograd_pack_b), .c_of = FN(winograd_c_of),
                             .ldc = job.tiles, .layer = &job, .interrupt = interrupt,
                             .micro = micro};
            status = FN(product_run)(&p);
            if (status == LRP_OK)
                status = lrp_parallel_for(v->out_c, LRP_ISA_TASK(winograd_output_task), &job,
                                          interrupt);
        }
    }
    free(scratch);
    free(own_u);
    return status;
}

#undef WINOGRAD_XI
#undef WINOGRAD_BLOCK
#undef WINOGRAD_LANES
