/*
 * SPDX-License-Identifier: Apache-2.0
 * One process, both libraries: a job of libAsyncJobsC computes a SHA-256 with OpenSSL's
 * libcrypto, pauses in the middle of the digest, and finishes with the right digest. The real
 * libcrypto ASYNC_* symbols are loaded too and never collide (ours are SAJ_*).
 * Build: cc mixed_libcrypto.c $(pkg-config --cflags --libs asyncjobs) -lcrypto
 */
#define _GNU_SOURCE
#include <asyncjobs/async.h>
#include <dlfcn.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

struct digest_args {
    const unsigned char *data;
    size_t length;
    unsigned char digest[SHA256_DIGEST_LENGTH];
    unsigned char *out; /* where the job stores the digest (the args are a copy) */
};

static int digest_job(void *arg)
{
    struct digest_args *args = arg;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int size = 0;
    int ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL)
        && EVP_DigestUpdate(md, args->data, args->length / 2);
    /* libcrypto's own ASYNC_get_current_job, looked up by its real name: it knows nothing of
     * this job, and ASYNC_get_current_job (ours, SAJ_get_current_job) does. */
    void *(*openssl_current)(void) = (void *(*)(void))dlsym(RTLD_DEFAULT, "ASYNC_get_current_job");
    printf("job: libcrypto's ASYNC_get_current_job %s, ours %s\n",
           openssl_current == NULL ? "missing" : openssl_current() == NULL ? "NULL" : "set",
           ASYNC_get_current_job() != NULL ? "set" : "NULL");
    printf("job: first half hashed, pausing\n");
    if (ASYNC_pause_job() != 1) ok = 0;
    printf("job: resumed, hashing the second half\n");
    ok = ok && EVP_DigestUpdate(md, args->data + args->length / 2, args->length - args->length / 2)
        && EVP_DigestFinal_ex(md, args->out, &size) && size == SHA256_DIGEST_LENGTH;
    EVP_MD_CTX_free(md);
    return ok;
}

int main(void)
{
    static unsigned char data[100000];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (unsigned char)(i * 31 + 7);
    unsigned char expected[SHA256_DIGEST_LENGTH], got[SHA256_DIGEST_LENGTH];
    SHA256(data, sizeof data, expected);

    struct digest_args args = {data, sizeof data, {0}, got};
    ASYNC_WAIT_CTX *ctx = ASYNC_WAIT_CTX_new();
    ASYNC_JOB *job = NULL;
    int ret = 0, rc, pauses = 0;
    while ((rc = ASYNC_start_job(&job, ctx, &ret, digest_job, &args, sizeof args)) == ASYNC_PAUSE) {
        pauses++;
        printf("main: job paused\n");
    }
    printf("main: rc=%s ret=%d pauses=%d\n", rc == ASYNC_FINISH ? "FINISH" : "other", ret, pauses);
    int same = memcmp(got, expected, sizeof got) == 0;
    printf("digest %s libcrypto's one-shot SHA256: ", same ? "matches" : "DIFFERS FROM");
    for (size_t i = 0; i < 8; i++) printf("%02x", got[i]);
    printf("...\n");
    ASYNC_WAIT_CTX_free(ctx);
    ASYNC_cleanup_thread();
    return rc == ASYNC_FINISH && ret == 1 && same ? 0 : 1;
}
