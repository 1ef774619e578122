#include "launch/commands.h"

#include <string.h>

/* One line per subcommand, in the order `m3ae help` lists them. */
const m3ae_command m3ae_commands[] = {
    {"version", "print the m3ae version, the library versions and the visible CUDA devices",
     m3ae_cmd_version},
    {"bench", "run a benchmark (tokenizer, loader, step) and print a table", m3ae_cmd_bench},
    {"tokenize", "print the RoBERTa token ids of each line of stdin", m3ae_cmd_tokenize},
    {"prep", "convert images + captions into LMDB shards; `m3ae prep inspect DIR` verifies them", m3ae_cmd_prep},
    {"phantom", "write the synthetic radiology corpus (PNG images + captions.jsonl)", m3ae_cmd_phantom},
    {"ckpt", "inspect, verify or release an HDF5 checkpoint", m3ae_cmd_ckpt},
    {"pretrain", "pretrain M3AE (data parallel under mpirun; resumes from RUN_DIR)", m3ae_cmd_pretrain},
    {"finetune", "fine-tune M3AE on a downstream task (vqa, cls) through the pretraining trainer", m3ae_cmd_finetune},
    {"evaluate", "evaluate a fine-tuned checkpoint on a prepared split (vqa: overall/open/closed, cls: accuracy)",
     m3ae_cmd_evaluate},
    {"predict", "answer questions (vqa) or classify captioned figures (cls) with a fine-tuned checkpoint (JSONL)",
     m3ae_cmd_predict},
    /* subcommands: add new entries above this line */
};
const int m3ae_n_commands = (int)(sizeof m3ae_commands / sizeof m3ae_commands[0]);

int m3ae_cli_wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return 1;
    return 0;
}
