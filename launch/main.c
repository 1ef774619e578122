/* m3ae: the command-line entry point. Dispatches to the subcommands of launch/commands.c. */
#include <stdio.h>
#include <string.h>

#include "common/build_info.h"
#include "common/error.h"
#include "launch/commands.h"

static void print_help(FILE *f) {
    fprintf(f,
            "m3ae %s: Multi-Modal Masked Autoencoders for medical vision-and-language pretraining\n\n"
            "usage: m3ae <command> [options]     (m3ae <command> --help explains each)\n\n"
            "commands:\n",
            M3AE_VERSION);
    fprintf(f, "  %-10s %s\n", "help", "list the commands (this text)");
    for (int i = 0; i < m3ae_n_commands; i++)
        fprintf(f, "  %-10s %s\n", m3ae_commands[i].name, m3ae_commands[i].summary);
    fprintf(f,
            "\nexit codes: 0 success (also a clean stop on a signal), 1 runtime failure, 2 usage or\n"
            "configuration error, 3 bad input data, 4 checkpoint error, 5 system or library failure\n"
            "(memory, disk, MPI, HDF5, LMDB, CUDA), 6 training diverged (a non-finite loss or gradient norm).\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        print_help(stdout);
        return argc < 2 ? M3AE_EXIT_USAGE : M3AE_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) argv[1] = "version";
    for (int i = 0; i < m3ae_n_commands; i++)
        if (!strcmp(argv[1], m3ae_commands[i].name)) return m3ae_commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "m3ae: error: unknown command '%s'; `m3ae help` lists the commands\n", argv[1]);
    return M3AE_EXIT_USAGE;
}
