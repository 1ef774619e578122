/* dist/'s node split (MPI_Comm_split_type SHARED in m3ae_dist_init) groups exactly the ranks that
 * share a node. A "node" here is a network namespace (the simulated cluster of
 * experiments/scaling/netns_cluster.sh; on a real machine all ranks share one): every rank reads
 * its /proc/self/ns/net, all gather them, and each rank's local_world and local_rank must be those
 * of its namespace group (ranks in rank order). With an argument N, the job must span N nodes. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dist/dist.h"
#include "harness.h"

enum { NS_LEN = 64 };

int main(int argc, char **argv) {
    m3ae_dist d;
    m3ae_dist_init(&d, &argc, &argv);
    int want_nodes = argc > 1 ? atoi(argv[1]) : 0;
    char mine[NS_LEN] = {0};
    ssize_t n = readlink("/proc/self/ns/net", mine, NS_LEN - 1);
    T_CHECK(n > 0, "rank %d: cannot read /proc/self/ns/net", d.rank);
    char *all = calloc((size_t)d.world, NS_LEN);
    T_CHECK(all != NULL, "no memory");
    if (!all) MPI_Abort(MPI_COMM_WORLD, 5);
    MPI_Allgather(mine, NS_LEN, MPI_CHAR, all, NS_LEN, MPI_CHAR, MPI_COMM_WORLD);
    int group = 0, index = -1, nodes = 0;
    for (int r = 0; r < d.world; r++) {
        const char *ns = all + (size_t)r * NS_LEN;
        if (!strcmp(ns, mine)) { if (r == d.rank) index = group; group++; }
        int first = 1; /* count a namespace at its first rank */
        for (int q = 0; q < r; q++) first &= strcmp(all + (size_t)q * NS_LEN, ns) != 0;
        nodes += first;
    }
    T_CHECK(d.local_world == group, "rank %d (%s): local_world %d, but %d ranks share its namespace",
            d.rank, mine, d.local_world, group);
    T_CHECK(d.local_rank == index, "rank %d (%s): local_rank %d, expected %d", d.rank, mine, d.local_rank, index);
    if (want_nodes > 0) T_CHECK(nodes == want_nodes, "the job spans %d namespaces, expected %d", nodes, want_nodes);
    printf("rank %d: %s, node rank %d of %d (%d nodes)\n", d.rank, mine, d.local_rank, d.local_world, nodes);
    fflush(stdout);
    free(all);
    int fails = t_failures;
    MPI_Allreduce(MPI_IN_PLACE, &fails, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    int rc = d.rank == 0 ? t_done("test_node_split") : 0;
    m3ae_dist_finalize(&d);
    return fails ? 1 : rc;
}
