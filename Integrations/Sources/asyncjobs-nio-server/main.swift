// SPDX-License-Identifier: Apache-2.0
// The example signing server on loopback, and the checker of its answers (scripts/bench-server):
//   asyncjobs-nio-server [--mode M] [--work p256|device] [--event-loops L] [--workers W]
//                        [--latency-us U] [--slots N] [--device-key HEX] [--port N] [--seconds S]
//                        [--notify callback|fd]
//   asyncjobs-nio-server verify (--public-key HEX | --device-key HEX) --message TEXT [FILE]
// The server runs L event loops (1 by default) and stops by itself after S seconds. `verify` reads
// one answer (hex) per line from FILE (or standard input) and checks each against the message.
import AsyncJobsNIO
import Crypto
import Foundation
import NIOSigningServer

let usageText = """
    usage: asyncjobs-nio-server [--mode jobs-callback|jobs-fd|threadpool|async|inline] [--work p256|device]
                                [--event-loops L] [--workers W] [--latency-us U] [--slots N] [--device-key HEX]
                                [--port N] [--seconds S] [--notify callback|fd]
           asyncjobs-nio-server verify (--public-key HEX | --device-key HEX) --message TEXT [FILE]
    """

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("asyncjobs-nio-server: \(message)\n\(usageText)\n".utf8))
    exit(2)
}

/// Splits `--name value` pairs; the last argument may be a lone operand (verify's FILE).
func options(_ arguments: ArraySlice<String>) -> (values: [String: String], operand: String?) {
    var values: [String: String] = [:]
    var operand: String?
    var rest = arguments
    while let option = rest.popFirst() {
        guard option.hasPrefix("--") else {
            guard operand == nil else { fail("unexpected argument '\(option)'") }
            operand = option
            continue
        }
        guard let value = rest.popFirst() else { fail("\(option) needs a value") }
        values[option] = value
    }
    return (values, operand)
}

func number<T: LosslessStringConvertible & Comparable>(_ values: [String: String], _ name: String, default value: T, minimum: T) -> T {
    guard let text = values[name] else { return value }
    guard let parsed = T(text), parsed >= minimum else { fail("\(name) must be a number, at least \(minimum) (got '\(text)')") }
    return parsed
}

func verify(_ arguments: ArraySlice<String>) -> Never {
    let (values, operand) = options(arguments)
    for name in values.keys where !["--public-key", "--device-key", "--message"].contains(name) {
        fail("verify: unknown option \(name)")
    }
    guard let message = values["--message"] else { fail("verify: --message is required") }
    let check: (String) -> Bool
    switch (values["--public-key"], values["--device-key"]) {
    case (let hex?, nil):
        guard let bytes = Hex.decode(hex), let key = try? P256.Signing.PublicKey(rawRepresentation: bytes) else {
            fail("verify: --public-key is not a raw P-256 public key in hex")
        }
        check = { SignatureCheck.isValidP256($0, message: Array(message.utf8), publicKey: key) }
    case (nil, let hex?):
        guard let key = Hex.decode(hex), !key.isEmpty else { fail("verify: --device-key is not hex") }
        check = { SignatureCheck.isValidDeviceTag($0, message: Array(message.utf8), key: key) }
    default:
        fail("verify: exactly one of --public-key and --device-key is required")
    }
    let text: String
    if let operand {
        guard let contents = try? String(contentsOfFile: operand, encoding: .utf8) else { fail("verify: cannot read \(operand)") }
        text = contents
    } else {
        text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
    }
    let answers = text.split(separator: "\n").map(String.init)
    let bad = answers.filter { !check($0) }
    print("verified \(answers.count - bad.count) of \(answers.count)")
    for answer in bad.prefix(3) { print("invalid: \(answer)") }
    exit(bad.isEmpty && !answers.isEmpty ? 0 : 1)
}

var arguments = CommandLine.arguments.dropFirst()
if arguments.first == "verify" { verify(arguments.dropFirst()) }
let (values, operand) = options(arguments)
if let operand { fail("unexpected argument '\(operand)'") }
let known = [
    "--mode", "--work", "--event-loops", "--workers", "--latency-us", "--slots", "--device-key", "--port", "--seconds",
    "--notify",
]
for name in values.keys where !known.contains(name) { fail("unknown option \(name)") }

var configuration = SigningServer.Configuration()
configuration.port = number(values, "--port", default: 0, minimum: 0)
configuration.eventLoops = number(values, "--event-loops", default: 1, minimum: 1)
configuration.workers = number(values, "--workers", default: 1, minimum: 1)
let seconds: Double = number(values, "--seconds", default: 30, minimum: 0)
switch (values["--mode"], values["--notify"]) {
case (let name?, nil):
    guard let execution = SigningServer.Execution(name: name) else { fail("unknown mode '\(name)'") }
    configuration.execution = execution
case (nil, "callback"): configuration.execution = .job(.callback)
case (nil, "fd"): configuration.execution = .job(.waitFD)
case (nil, nil): break
case (nil, let other?): fail("unknown notification '\(other)'")
case (.some, .some): fail("--notify is the old spelling of --mode jobs-callback|jobs-fd: give one of them")
}
switch values["--work"] ?? "p256" {
case "p256":
    for name in ["--latency-us", "--slots", "--device-key"] where values[name] != nil {
        fail("\(name) applies to --work device only")
    }
case "device":
    let latency: Int = number(values, "--latency-us", default: 1000, minimum: 1)
    configuration.work = .device(latency: .microseconds(latency), slots: number(values, "--slots", default: 4096, minimum: 1))
    if let hex = values["--device-key"] {
        guard let key = Hex.decode(hex), !key.isEmpty else { fail("--device-key is not hex") }
        configuration.deviceKey = key
    }
case let other: fail("unknown work '\(other)'")
}

let server = try await SigningServer.start(configuration)
print(
    "asyncjobs-nio-server: http://127.0.0.1:\(server.port) "
        + "(POST /sign, GET /public-key, GET /mode, GET /served, GET /ping), mode \(configuration.execution), "
        + "work \(configuration.work), \(configuration.eventLoops) event loop\(configuration.eventLoops == 1 ? "" : "s"); "
        + "stops after \(seconds) s")
fflush(nil)  // whoever started us may be waiting for the port
try await Task.sleep(for: .seconds(seconds))
try await server.stop()
print("asyncjobs-nio-server: stopped after \(server.signaturesServed) signatures")
