// SPDX-License-Identifier: Apache-2.0
// Task-local values per job: the switch's side (job_context_task_locals.c), for job_context.c.
#ifndef AJCTX_JOB_CONTEXT_TASK_LOCALS_H
#define AJCTX_JOB_CONTEXT_TASK_LOCALS_H

#include "job_context.h"

/// Looks up the calling thread's task-local words and stores their addresses in `_ajctx_tls`
/// (a word that is always 0 if they are unknown). Called before `access_head` is published.
void _ajctx_task_locals_publish(void);

/// Before the switch into `job`, on the resumer's side: hides the resumer's words and installs
/// the job's bindings (copies of the starter's for a body that starts). Returns 1 if it did, so
/// the job's switch out must come back out of line to restore them.
int _ajctx_task_locals_enter(_ajctx_job *job);

/// Before the switch out of `job`, on the job's side: keeps the job's bindings in
/// `job->task_locals` (popping the remaining ones first if its body `ended`) and restores the
/// resumer's words.
void _ajctx_task_locals_leave(_ajctx_job *job, int ended);

#endif
