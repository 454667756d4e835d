/* The model-shape flags shared by every command that builds a model config
 * from a preset (`agpt train`, `agpt info`): one set of flag rows and one
 * rule for applying them, so that two commands given the same flags build
 * the same model.
 *
 * The rule: start from the preset; each flag given replaces its field;
 * --arch gpt2 also sets biases, tied embeddings and one key-value head per
 * head; --num-attention-heads without --num-key-value-heads sets as many
 * key-value heads; with `derive`, --ffn-hidden-size when not given follows
 * a given --hidden-size or --arch by Megatron's rule (4h for GELU; 8h/3
 * rounded down to a multiple of 64, at least 64, for SwiGLU). */
#ifndef AGPT_CLI_MODEL_FLAGS_H
#define AGPT_CLI_MODEL_FLAGS_H

#include "cli/flags.h"
#include "model/config.h"

enum { AGPT_MODEL_FLAG_ROWS = 14 };

typedef struct {
  const char *preset, *arch;
  int num_layers, hidden, ffn, heads, kv_heads, max_pos, vocab, untie, no_bias;
  double rope_theta, norm_eps, init_std;
} agpt_model_flags;

/* Writes the AGPT_MODEL_FLAG_ROWS rows that fill *mf into rows[]; returns
 * their count. preset_default may be NULL (no preset unless given). */
int agpt_model_flag_rows(agpt_model_flags *mf, agpt_flag *rows, const char *preset_default, const char *preset_help);

/* Applies the shape flags given (tbl, n: the command's whole table) to *c
 * by the rule above. */
agpt_status agpt_model_flags_apply(const agpt_model_flags *mf, const agpt_flag *tbl, int n, int derive,
                                   agpt_model_config *c);

/* 1 if any shape flag other than --preset was given. */
int agpt_model_flags_any(const agpt_flag *tbl, int n);

#endif
