#include "image.h"

int image_pull(struct image_ctx *ctx, const char *ref, bool tls_verify, nook_error *err) {
  return nook_errx(err, ENOSYS, "image pull: not written yet");
}
