/*
 * connectors_int.h - declarations shared by the files of src/connectors/
 * only: the implementations the registry (registry.c) lists.
 */
#ifndef PAY_CONNECTORS_INT_H
#define PAY_CONNECTORS_INT_H

#include "connectors.h"

/* The built-in sandbox (sandbox.c). */
extern const struct pay_connector pay_sandbox_connector;

#endif
