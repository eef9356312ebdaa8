/* backend.h — the rv64 software RISC-V machine as a vCPU backend (cpu/backend.h). */
#ifndef KILN_CPU_RV64_BACKEND_H
#define KILN_CPU_RV64_BACKEND_H
#include "cpu/backend.h"
#include "cpu/rv64/hart.h"

extern const struct vcpu_backend rv64_backend;

/* The machine behind rv64 vCPUs (tests, and the rv64 code itself). */
struct rv64_machine *rv64_machine_of(struct vcpus *v);

#endif
