/* Image names for shell completion of `nook launch IMAGE`: read from the
 * store directly, since nook-image (which `image list` runs) costs a helper
 * start on every TAB. */
#include <stdio.h>

#include "storage/store.h"
#include "util.h"
#include "workflow.h"

int workflow_complete_images(void) {
  _cleanup_free_ char *root = store_root(NULL);
  _cleanup_strv_ char **ids = NULL;
  nook_error err;
  if (store_list_images(root, &ids, &err) < 0)
    return 0;
  for (size_t i = 0; ids && ids[i]; i++) {
    struct store_image img;
    if (store_image_load(root, ids[i], &img, &err) < 0)
      continue;
    for (size_t j = 0; img.names && img.names[j]; j++)
      printf("%s\n", img.names[j]);
    store_image_free(&img);
  }
  return 0;
}
