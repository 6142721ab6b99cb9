import NIOCore
import NIOHTTPTypes

/// How the server ends HTTP/1 connections that would otherwise stay open for ever.
enum ConnectionLimits {
    /// A connection with no request in progress and nothing read or written for this long is closed
    /// (a request that never finishes, an idle keep-alive). Above the 60 s idle timeout of the common
    /// load balancers, so they, not we, close an idle pooled connection.
    static let idleTimeout: Duration = .seconds(75)
    /// How long a connection whose answer is sent keeps reading and discarding what the client still sends.
    static let linger: TimeAmount = .seconds(5)
}

/// Lingering close. After answering a request that ends the connection (`Connection: close`), the
/// server half-closes its side and waits for the client to close its own. A client still sending a
/// body nobody read never gets there: the server stopped reading it (backpressure), so the client's
/// FIN waits behind bytes that are never read, and the connection, its file descriptor and the body
/// parts already buffered (about 400 KB for a 1 MiB body) were kept for ever: a few hundred such
/// requests exhausted memory and descriptors.
///
/// Once the output is closed this handler reads and discards everything that still arrives, closes
/// the connection when the client's side ends, and closes it anyway after `linger`. The answer has
/// been sent whole before the half-close, and discarding (rather than resetting at once) lets the
/// client read it before the connection goes.
final class LingeringClose: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let linger: TimeAmount
    private var discarding = false
    private var deadline: Scheduled<Void>?

    init(linger: TimeAmount = ConnectionLimits.linger) {
        self.linger = linger
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        context.close(mode: mode, promise: promise)
        guard mode == .output, !discarding, context.channel.isActive else { return }
        discarding = true
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(in: linger) { loopBound.value.close(promise: nil) }
        context.read()  // the reader above stopped asking for more; ask for it here, to discard
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !discarding else { return }
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        guard discarding else { return context.fireChannelReadComplete() }
        context.read()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if discarding, let event = event as? ChannelEvent, event == .inputClosed {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // What arrives after the answer may be anything (a body cut short, garbage): it only ends the connection.
        guard discarding else { return context.fireErrorCaught(error) }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }
}
