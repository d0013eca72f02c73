// SPDX-License-Identifier: Apache-2.0
// One connection of the signing server: collects a request, answers it at once or when its
// signature is ready (answers leave in request order: a connection has one request at a time).
import NIOCore
import NIOHTTP1

/// One connection: collects a request, answers it (at once, or when its signature is ready).
final class SigningHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let service: SigningService
    private let lane: SigningService.Lane
    private let mode: String
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var lastHeaders: (keepAlive: Bool, length: Int, headers: HTTPHeaders)?

    /// A handler for one connection of `lane`'s event loop; `mode` is what `GET /mode` answers.
    init(service: SigningService, lane: SigningService.Lane, mode: String) {
        self.service = service
        self.lane = lane
        self.mode = mode
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = []
        case .body(let buffer):
            body.append(contentsOf: buffer.readableBytesView)
        case .end:
            guard let head else { return }
            self.head = nil
            route(head, context: context)
        }
    }

    private func route(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        switch (head.method, head.uri) {
        case (.GET, "/ping"):
            respond(.ok, "pong", to: head, context: context)
        case (.GET, "/mode"):
            respond(.ok, mode, to: head, context: context)
        case (.GET, "/served"):
            let counts = service.lanes.map { String($0.served.load(ordering: .relaxed)) }
            respond(.ok, counts.joined(separator: " "), to: head, context: context)
        case (.GET, "/public-key"):
            respond(.ok, Hex.encode(Array(service.signer.publicKey.rawRepresentation)), to: head, context: context)
        case (.POST, "/sign"):
            service.sign(body, lane: lane).assumeIsolated().whenComplete { result in
                switch result {
                case .success(let signature):
                    self.respond(.ok, Hex.encode(signature, allocator: context.channel.allocator), to: head, context: context)
                case .failure(let error): self.respond(.internalServerError, "\(error)", to: head, context: context)
                }
            }
        default:
            respond(.notFound, "not found", to: head, context: context)
        }
    }

    private func respond(_ status: HTTPResponseStatus, _ text: String, to request: HTTPRequestHead, context: ChannelHandlerContext) {
        respond(status, context.channel.allocator.buffer(string: text), to: request, context: context)
    }

    /// Answers with `body` as text. On a keep-alive connection the answer is flushed with no
    /// promise (nothing waits for the write), and its headers are built once per connection
    /// and body length: an answer runs on the event loop, where in job execution every
    /// completion of a burst waits for the answers before it (docs/performance.md).
    private func respond(_ status: HTTPResponseStatus, _ body: ByteBuffer, to request: HTTPRequestHead, context: ChannelHandlerContext) {
        let keepAlive = request.isKeepAlive
        let headers = headers(keepAlive: keepAlive, length: body.readableBytes)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        if keepAlive {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
        }
    }

    /// The headers of a text answer of `length` bytes (the last ones built are kept: a
    /// connection's signatures all have the same length).
    private func headers(keepAlive: Bool, length: Int) -> HTTPHeaders {
        if let cached = lastHeaders, cached.keepAlive == keepAlive, cached.length == length { return cached.headers }
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "text/plain")
        headers.add(name: "content-length", value: String(length))
        headers.add(name: "connection", value: keepAlive ? "keep-alive" : "close")
        lastHeaders = (keepAlive, length, headers)
        return headers
    }
}
