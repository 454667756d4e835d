/* The model config in checkpoints: a Hugging Face config.json (Llama or
 * GPT-2 keys, so `transformers` can read the directory) with an "agpt"
 * object holding agpt's own config verbatim, which is what agpt reads back. */
#ifndef AGPT_CKPT_MODEL_JSON_H
#define AGPT_CKPT_MODEL_JSON_H

#include "core/json.h"
#include "core/status.h"
#include "model/config.h"

/* Appends the config.json text to sb. */
void agpt_model_config_to_json(const agpt_model_config *c, agpt_sb *sb);
/* Reads the "agpt" object of a config.json; `path` names the file in errors. */
agpt_status agpt_model_config_from_json(const char *text, size_t n, const char *path, agpt_model_config *out);
/* Fails naming the first field where a and b differ ("what" names the
 * sources, e.g. "checkpoint out/x vs command line"). */
agpt_status agpt_model_config_compare(const agpt_model_config *a, const agpt_model_config *b, const char *what);

#endif
