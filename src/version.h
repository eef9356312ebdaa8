/* version.h — kiln's version, reported by `kiln --version` and the API (GET /, GET /version). */
#ifndef KILN_VERSION_H
#define KILN_VERSION_H
#define KILN_VERSION "0.2.0"
#endif
