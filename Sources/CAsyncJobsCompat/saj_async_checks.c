// SPDX-License-Identifier: Apache-2.0
// No code: SwiftPM needs one source file per C target, and the Swift target AsyncJobsCompat
// implements every function of the header. This file checks at compile time that the header's
// constants keep OpenSSL's values (<openssl/async.h>, OpenSSL 3.x).
#include "asyncjobs/async.h"

_Static_assert(ASYNC_ERR == 0 && ASYNC_NO_JOBS == 1 && ASYNC_PAUSE == 2 && ASYNC_FINISH == 3,
               "ASYNC_start_job results must keep OpenSSL's values");
_Static_assert(ASYNC_STATUS_UNSUPPORTED == 0 && ASYNC_STATUS_ERR == 1 && ASYNC_STATUS_OK == 2 &&
                   ASYNC_STATUS_EAGAIN == 3,
               "ASYNC_STATUS_* must keep OpenSSL's values");
_Static_assert(SAJ_ERR == ASYNC_ERR && SAJ_NO_JOBS == ASYNC_NO_JOBS && SAJ_PAUSE == ASYNC_PAUSE &&
                   SAJ_FINISH == ASYNC_FINISH && SAJ_BAD_FD == OSSL_BAD_ASYNC_FD,
               "SAJ_ and ASYNC_ constants must agree");
