// SPDX-License-Identifier: Apache-2.0
// Empty: SwiftPM needs one source file per C target. The header is the whole target.
