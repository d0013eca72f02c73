/*
 * The EXAMPLE program of ASYNC_start_job.pod (OpenSSL 1.1.0 development, 2015), verbatim except
 * for the include line and the macro that selects the first design. Its output must be exactly
 * the page's expected output (first_design_example.expected).
 */
#include <stdio.h>
#define SAJ_FIRST_DESIGN
#include <asyncjobs/async.h>
int jobfunc(void *arg)
{
ASYNC_JOB *currjob;
unsigned char *msg;
currjob = ASYNC_get_current_job();
if (currjob != NULL) {
printf("Executing within a job\n");
} else {
printf("Not executing within a job - should not happen\n");
return 0;
}
msg = (unsigned char *)arg;
printf("Passed in message is: %s\n", msg);
/*
* Normally some external event would cause this to happen at some
* later point - but we do it here for demo purposes, i.e.
* immediately signalling that the job is ready to be woken up after
* we return to main via ASYNC_pause_job().
*/
ASYNC_wake(currjob);
/* Return control back to main */
ASYNC_pause_job();
/* Clear the wake signal */
ASYNC_clear_wake(currjob);
printf ("Resumed the job after a pause\n");
return 1;
}
int main(void)
{
ASYNC_JOB *job = NULL;
int ret, waitfd;
fd_set waitfdset;
unsigned char msg[13] = "Hello world!";
/*
* We're only expecting 1 job to be used here so we're only creating
* a pool of 1
*/
if (!ASYNC_init_pool(1, 1)) {
printf("Error creating pool\n");
goto end;
}
printf("Starting...\n");
for (;;) {
switch(ASYNC_start_job(&job, &ret, jobfunc, msg, sizeof(msg))) {
case ASYNC_ERR:
case ASYNC_NO_JOBS:
printf("An error occurred\n");
goto end;
case ASYNC_PAUSE:
printf("Job was paused\n");
break;
case ASYNC_FINISH:
printf("Job finished with return value %d\n", ret);
goto end;
}
/* Wait for the job to be woken */
printf("Waiting for the job to be woken up\n");
waitfd = ASYNC_get_wait_fd(job);
FD_ZERO(&waitfdset);
FD_SET(waitfd, &waitfdset);
select(waitfd + 1, &waitfdset, NULL, NULL, NULL);
}
end:
printf("Finishing\n");
ASYNC_free_pool();
return 0;
}
