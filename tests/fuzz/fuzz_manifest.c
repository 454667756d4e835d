/* Fuzz target: a checkpoint's manifest.json and `latest` file, read by
 * ckpt/checkpoint.c through agpt_ckpt_resolve, agpt_ckpt_verify and the
 * checked reads. The input is the manifest, optionally preceded by the text
 * of `latest` and a NUL byte. The manifest's own CRC line is recomputed
 * before the file is written (a fuzzer cannot guess a CRC-32C, and without
 * it nothing past the checksum would be reached). The checkpoint directory
 * also holds two files with fixed bytes, config.json and model.safetensors,
 * which the seeds list with their true sizes and CRCs. */
#include "fuzz_util.h"

#include <sys/stat.h>

#include "ckpt/checkpoint.h"
#include "core/file.h"

static const char crc_line[] = "  \"manifest_crc32c\": \"";
static const char crc_end[] = "\"\n}\n";

static const char config_bytes[] = "{\"agpt\": {}}\n";
/* {"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} padded to 56, then 1.0f, 2.0f */
static const unsigned char st_bytes[] = {
    56, 0, 0, 0, 0, 0, 0, 0, '{', '"', 'w', '"', ':', '{', '"', 'd', 't', 'y', 'p', 'e', '"', ':', '"', 'F', '3',
    '2', '"', ',', '"', 's', 'h', 'a', 'p', 'e', '"', ':', '[', '2', ']', ',', '"', 'd', 'a', 't', 'a', '_', 'o',
    'f', 'f', 's', 'e', 't', 's', '"', ':', '[', '0', ',', '8', ']', '}', '}', ' ', ' ', 0, 0, 0x80, 0x3f, 0, 0,
    0, 0x40};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char save[600], dir[700], latest[700], mpath[800];
  if (!save[0]) {
    char p[800];
    fuzz_path(save, sizeof save, "save");
    snprintf(dir, sizeof dir, "%s/iter_0000001", save);
    snprintf(latest, sizeof latest, "%s/latest", save);
    snprintf(mpath, sizeof mpath, "%s/manifest.json", dir);
    if (agpt_mkdir_p(dir) != AGPT_OK) abort();
    snprintf(p, sizeof p, "%s/config.json", dir);
    fuzz_write_file(p, config_bytes, sizeof config_bytes - 1);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    fuzz_write_file(p, st_bytes, sizeof st_bytes);
  }
  const uint8_t *nul = memchr(data, 0, size);
  size_t nlat = nul ? (size_t)(nul - data) : 0;
  const uint8_t *man = nul ? nul + 1 : data;
  size_t nman = nul ? size - nlat - 1 : size;
  if (nul)
    fuzz_write_file(latest, data, nlat);
  else
    unlink(latest);

  char *text = malloc(nman ? nman : 1);
  if (!text) abort();
  memcpy(text, man, nman);
  size_t tail = sizeof crc_line - 1 + 8 + sizeof crc_end - 1;
  if (nman > tail && !memcmp(text + nman - tail, crc_line, sizeof crc_line - 1) &&
      !memcmp(text + nman - (sizeof crc_end - 1), crc_end, sizeof crc_end - 1)) {
    char hex[9];
    snprintf(hex, sizeof hex, "%08x", (unsigned)agpt_crc32c(0, text, nman - tail));
    memcpy(text + nman - tail + sizeof crc_line - 1, hex, 8);
  }
  fuzz_write_file(mpath, text, nman);
  free(text);

  char out[1024];
  int64_t it;
  (void)agpt_ckpt_resolve(nul ? save : dir, out, sizeof out, &it);
  (void)agpt_ckpt_verify(dir);
  char *buf;
  size_t n;
  if (agpt_ckpt_read_file(dir, "config.json", &buf, &n) == AGPT_OK) free(buf);
  agpt_st_file *f;
  if (agpt_ckpt_open_safetensors(dir, "model.safetensors", &f) == AGPT_OK) agpt_st_close(f);
  return 0;
}
