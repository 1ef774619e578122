/* The all-reduce of dist/ring.h.
 *
 * One ring pass over a communicator of p ranks splits the buffer into p segments (segment k starts at
 * k*(n/p) + min(k, n%p); the first n%p segments hold one float more). Step t < p-1 (reduce-scatter):
 * rank r sends segment r-t to its right neighbour and adds segment r-t-1 from its left one; after
 * p-1 steps it holds segment r+1 summed, as ((x_k + x_k+1) + x_k+2) + ... for segment k: an order
 * fixed by p. Steps p-1 .. 2p-3 (all-gather) pass the summed segments on, copied as they are, so
 * every rank ends with the same bits. Each segment goes in chunks (the pipelining): a window of W
 * slots, each carrying one chunk index through all its steps, then the next chunk index; a slot's
 * step t+1 starts when both messages of its step t are done, so slots overtake each other freely and
 * every message has a tag of its own (operation id, step, slot); slot s carries chunks s, s+W, s+2W, ...
 * on every rank, so a tag always means the same chunk.
 *
 * hier runs three passes: reduce-scatter inside the node (local rank l holds segment l+1 of the
 * node's partition), a full ring of that segment across the nodes (the ranks of equal local index),
 * then the all-gather inside the node. */
#include "dist/ring_mpi.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/error.h"
#include "common/log.h"
#include "dist/mpi_check.h"
#include "dist/watchdog.h"

/* Tags leave room for this many slots per step, whatever the window of an operation. */
#define MAX_WINDOW 64

typedef struct {
    MPI_Comm comm;
    int p, r;
    int left, right; /* neighbours in comm */
    int left_world;  /* the left neighbour's rank in MPI_COMM_WORLD (diagnostics) */
} ring_comm;

struct m3ae_ring {
    m3ae_ar_algo algo;
    ring_comm all, local, cross; /* local, cross: hier only */
    int world, nodes, have_local_cross;
    size_t chunk;
    int window;
    int tag_ub, max_steps; /* tags: ((id * max_steps + step) * MAX_WINDOW + slot) <= tag_ub */
    m3ae_ring_op *blocking; /* id 0: m3ae_ring_allreduce */
};

/* Steps [t0, t1) of the ring on x (n floats) over c. */
typedef struct {
    ring_comm *c;
    float *x;
    size_t n;
    int t0, t1;
} ring_pass;

struct m3ae_ring_op {
    m3ae_ring *g;
    int id;
    size_t chunk;
    int window;
    float *tmp;        /* (window, chunk) received reduce-scatter chunks */
    MPI_Request *req;  /* (window, 2): receive, send of each slot */
    size_t *slot_chunk;
    int *slot_step;    /* -1: idle */
    ring_pass pass[3];
    int npass, cur, active; /* active: busy slots of the current pass */
    size_t nchunks;
    float *x;
    size_t n;
    int average, running;
};

/* ------------------------------------------------------------------ names */

int m3ae_ar_algo_parse(const char *name, m3ae_ar_algo *out) {
    static const char *names[] = {"auto", "ring", "hier", "mpi"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, names[i])) {
            *out = (m3ae_ar_algo)i;
            return 0;
        }
    return -1;
}

const char *m3ae_ar_algo_name(m3ae_ar_algo a) {
    switch (a) {
    case M3AE_AR_AUTO: return "auto";
    case M3AE_AR_RING: return "ring";
    case M3AE_AR_HIER: return "hier";
    case M3AE_AR_MPI: return "mpi";
    }
    return "?";
}

/* ------------------------------------------------------------------ set-up */

static void comm_setup(ring_comm *c, MPI_Comm comm) {
    c->comm = comm;
    M3AE_MPI_CHECK(MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN), "all-reduce set-up (MPI_Comm_set_errhandler)");
    M3AE_MPI_CHECK(MPI_Comm_size(comm, &c->p), "all-reduce set-up (MPI_Comm_size)");
    M3AE_MPI_CHECK(MPI_Comm_rank(comm, &c->r), "all-reduce set-up (MPI_Comm_rank)");
    c->left = (c->r + c->p - 1) % c->p, c->right = (c->r + 1) % c->p;
    MPI_Group mine, world;
    M3AE_MPI_CHECK(MPI_Comm_group(comm, &mine), "all-reduce set-up (MPI_Comm_group)");
    M3AE_MPI_CHECK(MPI_Comm_group(MPI_COMM_WORLD, &world), "all-reduce set-up (MPI_Comm_group)");
    M3AE_MPI_CHECK(MPI_Group_translate_ranks(mine, 1, &c->left, world, &c->left_world),
                   "all-reduce set-up (MPI_Group_translate_ranks)");
    MPI_Group_free(&mine);
    MPI_Group_free(&world);
}

/* The node of each rank: the shared-memory split, or M3AE_FAKE_NODES blocks of consecutive ranks
 * (tests of hier on one machine). */
static void split_nodes(MPI_Comm all, int rank, int world, MPI_Comm *local) {
    const char *fake = getenv("M3AE_FAKE_NODES");
    if (fake && *fake) {
        char *end = NULL;
        long k = strtol(fake, &end, 10);
        M3AE_CHECK(end && *end == '\0' && k >= 1 && k <= world, M3AE_EXIT_USAGE,
                   "M3AE_FAKE_NODES='%s': give a number of nodes from 1 to the world size %d (or unset it)", fake,
                   world);
        int color = (int)((long)rank * k / world);
        M3AE_MPI_CHECK(MPI_Comm_split(all, color, rank, local), "fake node split (MPI_Comm_split)");
        return;
    }
    M3AE_MPI_CHECK(MPI_Comm_split_type(all, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, local),
                   "node split (MPI_Comm_split_type)");
}

static void set_pipelining(m3ae_ring *g, size_t chunk, int window) {
    M3AE_CHECK(chunk >= 1 && chunk <= (size_t)INT_MAX && window >= 1 && window <= MAX_WINDOW, M3AE_EXIT_USAGE,
               "all-reduce pipelining: chunk %zu floats, window %d; give a chunk of 1..%d floats and a window of 1..%d",
               chunk, window, INT_MAX, MAX_WINDOW);
    g->chunk = chunk, g->window = window;
    if (g->blocking) m3ae_ring_op_destroy(g->blocking);
    g->blocking = m3ae_ring_op_create(g, 0);
}

m3ae_ring *m3ae_ring_create_comm(m3ae_ar_algo algo, MPI_Comm comm) {
    m3ae_ring *g = m3ae_alloc(sizeof *g, "the all-reduce set-up");
    memset(g, 0, sizeof *g);
    MPI_Comm all;
    M3AE_MPI_CHECK(MPI_Comm_dup(comm, &all), "all-reduce set-up (MPI_Comm_dup)");
    comm_setup(&g->all, all);
    g->world = g->all.p;
    int rank = g->all.r;

    MPI_Comm local;
    split_nodes(all, rank, g->world, &local);
    int lr = 0, lp = 1;
    M3AE_MPI_CHECK(MPI_Comm_rank(local, &lr), "all-reduce set-up (MPI_Comm_rank)");
    M3AE_MPI_CHECK(MPI_Comm_size(local, &lp), "all-reduce set-up (MPI_Comm_size)");
    int v[3] = {lr == 0, lp, -lp}; /* nodes, max ranks per node, -min */
    M3AE_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &v[0], 1, MPI_INT, MPI_SUM, all), "node count (MPI_Allreduce)");
    M3AE_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &v[1], 2, MPI_INT, MPI_MAX, all), "node sizes (MPI_Allreduce)");
    g->nodes = v[0];
    int even = v[1] == -v[2];
    if (algo == M3AE_AR_AUTO) algo = g->nodes > 1 ? M3AE_AR_HIER : M3AE_AR_RING;
    if (algo == M3AE_AR_HIER && !even) {
        if (rank == 0)
            m3ae_warn("allreduce = hier needs the same number of ranks on every node (here %d to %d on %d nodes): "
                      "using the flat ring instead", -v[2], v[1], g->nodes);
        algo = M3AE_AR_RING;
    }
    g->algo = algo;
    if (algo == M3AE_AR_HIER) {
        MPI_Comm cross;
        M3AE_MPI_CHECK(MPI_Comm_split(all, lr, rank, &cross), "cross-node rings (MPI_Comm_split)");
        comm_setup(&g->local, local);
        comm_setup(&g->cross, cross);
        g->have_local_cross = 1;
    } else {
        MPI_Comm_free(&local);
    }
    int steps = 2 * g->world - 2;
    g->max_steps = steps > 1 ? steps : 1;
    int *ub = NULL, flag = 0;
    M3AE_MPI_CHECK(MPI_Comm_get_attr(all, MPI_TAG_UB, &ub, &flag), "tag limit (MPI_Comm_get_attr)");
    g->tag_ub = flag && ub ? *ub : 32767;
    set_pipelining(g, M3AE_RING_CHUNK_FLOATS, M3AE_RING_WINDOW);
    return g;
}

m3ae_ring *m3ae_ring_create(m3ae_ar_algo algo) { return m3ae_ring_create_comm(algo, MPI_COMM_WORLD); }

void m3ae_ring_destroy(m3ae_ring *g) {
    if (!g) return;
    m3ae_ring_op_destroy(g->blocking);
    if (g->have_local_cross) {
        MPI_Comm_free(&g->local.comm);
        MPI_Comm_free(&g->cross.comm);
    }
    MPI_Comm_free(&g->all.comm);
    m3ae_free(g);
}

m3ae_ar_algo m3ae_ring_algo(const m3ae_ring *g) { return g->algo; }
int m3ae_ring_world(const m3ae_ring *g) { return g->world; }
int m3ae_ring_nodes(const m3ae_ring *g) { return g->nodes; }
void m3ae_ring_set_chunk(m3ae_ring *g, size_t chunk_floats, int window) { set_pipelining(g, chunk_floats, window); }

/* ------------------------------------------------------------------ operations */

m3ae_ring_op *m3ae_ring_op_create(m3ae_ring *g, int id) {
    long long top = ((long long)id * g->max_steps + g->max_steps - 1) * MAX_WINDOW + MAX_WINDOW - 1;
    M3AE_CHECK(id >= 0 && top <= g->tag_ub, M3AE_EXIT_USAGE,
               "all-reduce operation %d: its message tags reach %lld, over this MPI's limit %d; use fewer, larger "
               "buckets (bucket_mb)", id, top, g->tag_ub);
    m3ae_ring_op *op = m3ae_alloc(sizeof *op, "an all-reduce operation");
    memset(op, 0, sizeof *op);
    op->g = g, op->id = id, op->chunk = g->chunk, op->window = g->window;
    const size_t w = (size_t)op->window;
    op->tmp = m3ae_alloc(w * op->chunk * sizeof(float), "the all-reduce receive chunks");
    op->req = m3ae_alloc(2 * w * sizeof(MPI_Request), "the all-reduce requests");
    op->slot_chunk = m3ae_alloc(w * sizeof(size_t), "the all-reduce slots");
    op->slot_step = m3ae_alloc(w * sizeof(int), "the all-reduce slots");
    for (size_t s = 0; s < 2 * w; s++) op->req[s] = MPI_REQUEST_NULL;
    for (size_t s = 0; s < w; s++) op->slot_step[s] = -1;
    return op;
}

void m3ae_ring_op_destroy(m3ae_ring_op *op) {
    if (!op) return;
    M3AE_CHECK(!op->running, M3AE_EXIT_FAIL, "all-reduce operation %d destroyed while running (wait for it first)",
               op->id);
    m3ae_free(op->tmp);
    m3ae_free(op->req);
    m3ae_free(op->slot_chunk);
    m3ae_free(op->slot_step);
    m3ae_free(op);
}

static size_t seg_off(size_t n, int p, int k) { return (size_t)k * (n / (size_t)p) + ((size_t)k < n % (size_t)p ? (size_t)k : n % (size_t)p); }
static size_t seg_len(size_t n, int p, int k) { return n / (size_t)p + ((size_t)k < n % (size_t)p); }
static int mod(int a, int p) { return ((a % p) + p) % p; }

/* Chunk j of segment k of the pass: *off, *len (floats). */
static void chunk_of(const ring_pass *P, size_t C, int k, size_t j, size_t *off, size_t *len) {
    size_t so = seg_off(P->n, P->c->p, k), sl = seg_len(P->n, P->c->p, k), a = j * C;
    *off = so + (a < sl ? a : sl);
    *len = a < sl ? (sl - a < C ? sl - a : C) : 0;
}

/* The segments step t sends and receives; 1 when it is a reduce-scatter step. */
static int step_segments(const ring_pass *P, int t, int *send_seg, int *recv_seg) {
    int p = P->c->p, r = P->c->r;
    if (t < p - 1) {
        *send_seg = mod(r - t, p), *recv_seg = mod(r - t - 1, p);
        return 1;
    }
    int u = t - (p - 1);
    *send_seg = mod(r + 1 - u, p), *recv_seg = mod(r - u, p);
    return 0;
}

static void post_step(m3ae_ring_op *op, int s) {
    const ring_pass *P = &op->pass[op->cur];
    int t = op->slot_step[s], ss, rsg;
    int rs = step_segments(P, t, &ss, &rsg);
    size_t so, sl, ro, rl;
    chunk_of(P, op->chunk, ss, op->slot_chunk[s], &so, &sl);
    chunk_of(P, op->chunk, rsg, op->slot_chunk[s], &ro, &rl);
    int tag = (op->id * op->g->max_steps + t) * MAX_WINDOW + s;
    float *rbuf = rs ? op->tmp + (size_t)s * op->chunk : P->x + ro;
    M3AE_MPI_CHECK(MPI_Irecv(rbuf, (int)rl, MPI_FLOAT, P->c->left, tag, P->c->comm, &op->req[2 * s]),
                   "all-reduce receive (MPI_Irecv)");
    M3AE_MPI_CHECK(MPI_Isend(P->x + so, (int)sl, MPI_FLOAT, P->c->right, tag, P->c->comm, &op->req[2 * s + 1]),
                   "all-reduce send (MPI_Isend)");
}

/* Both messages of slot s's step are done: add what arrived (reduce-scatter), then the next step,
 * the slot's next chunk, or the slot goes idle. */
static void finish_step(m3ae_ring_op *op, int s) {
    const ring_pass *P = &op->pass[op->cur];
    int t = op->slot_step[s], ss, rsg;
    if (step_segments(P, t, &ss, &rsg)) {
        size_t ro, rl;
        chunk_of(P, op->chunk, rsg, op->slot_chunk[s], &ro, &rl);
        float *dst = P->x + ro;
        const float *src = op->tmp + (size_t)s * op->chunk;
        for (size_t i = 0; i < rl; i++) dst[i] += src[i];
    }
    if (++t < P->t1) {
        op->slot_step[s] = t;
        post_step(op, s);
    } else if (op->slot_chunk[s] + (size_t)op->window < op->nchunks) {
        op->slot_chunk[s] += (size_t)op->window; /* slot s carries chunks s, s + W, ...: the same on every rank */
        op->slot_step[s] = P->t0;
        post_step(op, s);
    } else {
        op->slot_step[s] = -1;
        op->active--;
    }
}

/* Starts passes from op->cur until one has messages; when none is left the operation is done. */
static void start_passes(m3ae_ring_op *op) {
    for (; op->cur < op->npass; op->cur++) {
        const ring_pass *P = &op->pass[op->cur];
        int p = P->c->p;
        if (p == 1 || P->n == 0 || P->t0 >= P->t1) continue;
        size_t longest = P->n / (size_t)p + (P->n % (size_t)p != 0);
        op->nchunks = (longest + op->chunk - 1) / op->chunk;
        for (int s = 0; s < op->window && (size_t)s < op->nchunks; s++) {
            op->slot_chunk[s] = (size_t)s;
            op->slot_step[s] = P->t0;
            op->active++;
            post_step(op, s);
        }
        return;
    }
    if (op->average && op->g->world > 1) {
        const float w = (float)op->g->world;
        for (size_t i = 0; i < op->n; i++) op->x[i] /= w;
    }
    op->running = 0;
}

void m3ae_ring_op_start(m3ae_ring_op *op, float *x, size_t n, int average) {
    M3AE_CHECK(!op->running, M3AE_EXIT_FAIL, "all-reduce operation %d started again before it finished", op->id);
    m3ae_ring *g = op->g;
    op->x = x, op->n = n, op->average = average, op->running = 1, op->cur = 0, op->active = 0;
    if (g->algo == M3AE_AR_MPI) {
        /* the oracle: blocking, in int-sized pieces (the watchdog knows the bucket, not the peer) */
        char what[96];
        if (op->id >= 1) snprintf(what, sizeof what, "gradient bucket %d of the all-reduce (MPI_Allreduce)", op->id - 1);
        else snprintf(what, sizeof what, "the blocking all-reduce (MPI_Allreduce)");
        m3ae_watchdog_waiting(what, -1);
        for (size_t off = 0; off < n;) {
            int len = n - off > (size_t)INT_MAX / 2 ? INT_MAX / 2 : (int)(n - off);
            M3AE_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, x + off, len, MPI_FLOAT, MPI_SUM, g->all.comm),
                           "gradient sum (MPI_Allreduce)");
            off += (size_t)len;
        }
        m3ae_watchdog_waiting(NULL, -1);
        op->npass = 0;
    } else if (g->algo == M3AE_AR_HIER) {
        ring_comm *L = &g->local, *X = &g->cross;
        int own = (L->r + 1) % L->p;
        size_t off = seg_off(n, L->p, own), len = seg_len(n, L->p, own);
        op->pass[0] = (ring_pass){L, x, n, 0, L->p - 1};
        op->pass[1] = (ring_pass){X, x + off, len, 0, 2 * X->p - 2};
        op->pass[2] = (ring_pass){L, x, n, L->p - 1, 2 * L->p - 2};
        op->npass = 3;
    } else {
        op->pass[0] = (ring_pass){&g->all, x, n, 0, 2 * g->all.p - 2};
        op->npass = 1;
    }
    start_passes(op);
}

/* Every wait for messages of dist/ring.c and dist/buckets.c goes through here: bucket (op->id - 1;
 * -1 for the blocking all-reduce) and the rank whose message is awaited (the left neighbour of the
 * current pass) are at hand for a diagnostic of a hung step. block: MPI_Waitsome, else MPI_Testsome.
 * Returns the number of requests completed. */
static int wait_messages(m3ae_ring_op *op, int block) {
    int bucket = op->id - 1, peer = op->pass[op->cur].c->left_world;
    int nreq = 2 * op->window, done = 0, idx[2 * MAX_WINDOW];
    if (block) {
        /* the watchdog (dist/watchdog.h) names the bucket and the rank whose message is missing */
        char what[96];
        if (bucket >= 0) snprintf(what, sizeof what, "gradient bucket %d of the all-reduce (pass %d)", bucket, op->cur);
        else snprintf(what, sizeof what, "the blocking all-reduce (pass %d)", op->cur);
        m3ae_watchdog_waiting(what, peer);
        M3AE_MPI_CHECK(MPI_Waitsome(nreq, op->req, &done, idx, MPI_STATUSES_IGNORE), "all-reduce wait (MPI_Waitsome)");
        m3ae_watchdog_waiting(NULL, -1);
    } else
        M3AE_MPI_CHECK(MPI_Testsome(nreq, op->req, &done, idx, MPI_STATUSES_IGNORE), "all-reduce test (MPI_Testsome)");
    return done == MPI_UNDEFINED ? 0 : done;
}

/* One round: wait for (block) or test the messages, then move every slot whose step is complete. */
static int progress(m3ae_ring_op *op, int block) {
    if (!op->running) return 0;
    int done = wait_messages(op, block);
    for (int s = 0; s < op->window; s++)
        if (op->slot_step[s] >= 0 && op->req[2 * s] == MPI_REQUEST_NULL && op->req[2 * s + 1] == MPI_REQUEST_NULL)
            finish_step(op, s);
    if (op->active == 0) {
        op->cur++;
        start_passes(op);
    }
    return done;
}

int m3ae_ring_op_test(m3ae_ring_op *op) {
    while (op->running && progress(op, 0) > 0) {
    }
    return !op->running;
}

void m3ae_ring_op_wait(m3ae_ring_op *op) {
    while (op->running) progress(op, 1);
}

void m3ae_ring_allreduce(m3ae_ring *g, float *x, size_t n, int average) {
    m3ae_ring_op_start(g->blocking, x, n, average);
    m3ae_ring_op_wait(g->blocking);
}
