/* Tier notes: the name of the tier a pass took, recorded for a calling
 * thread that asked for them (lrp_trace_start in lrp.h). */
#ifndef SEMIRING_LRP_RUNTIME_TRACE_H
#define SEMIRING_LRP_RUNTIME_TRACE_H

#include "lrp.h"

/* tier: a string with static storage, e.g. "dense.forward.sparse_inputs";
 * nothing happens unless this thread is tracing. */
void lrp_trace_tier(const char *tier);

#endif
