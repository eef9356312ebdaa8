/* errmsg.h — the one-line error messages validators and controllers hand back to their callers
 * (the API's fault_message, the command line's "kiln: ..." line). */
#ifndef KILN_COMMON_ERRMSG_H
#define KILN_COMMON_ERRMSG_H
#include <stddef.h>

/* Formats the message into err (if err and errlen) and returns -1, for `return errmsg(...)`. */
int errmsg(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
