// SPDX-License-Identifier: Apache-2.0
// The example signing server on loopback: `swift run asyncjobs-nio-server [--port N]
// [--seconds S] [--workers W] [--notify callback|fd]`. It stops by itself after S seconds.
import AsyncJobsNIO
import Foundation
import NIOSigningServer

var configuration = SigningServer.Configuration()
var seconds = 30.0
var arguments = CommandLine.arguments.dropFirst()
func usage() -> Never {
    print("usage: asyncjobs-nio-server [--port N] [--seconds S] [--workers W] [--notify callback|fd]")
    exit(2)
}
while let option = arguments.popFirst() {
    guard let value = arguments.popFirst() else { usage() }
    switch option {
    case "--port": configuration.port = Int(value) ?? { usage() }()
    case "--seconds": seconds = Double(value) ?? { usage() }()
    case "--workers": configuration.workers = Int(value) ?? { usage() }()
    case "--notify":
        switch value {
        case "callback": configuration.notification = .callback
        case "fd": configuration.notification = .waitFD
        default: usage()
        }
    default: usage()
    }
}

let server = try await SigningServer.start(configuration)
print(
    "asyncjobs-nio-server: http://127.0.0.1:\(server.port) (POST /sign, GET /public-key, GET /ping); "
        + "stops after \(seconds) s")
fflush(nil)  // whoever started us may be waiting for the port
try await Task.sleep(for: .seconds(seconds))
try await server.stop()
print("asyncjobs-nio-server: stopped after \(server.signaturesServed) signatures")
