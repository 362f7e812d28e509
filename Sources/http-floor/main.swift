import NIOCore
import NIOHTTP1
import NIOPosix

// The floor of pyhost's shape, for python/bench.py: the HTTP/1 server pyhost's invocations pass
// through (SwiftNIO's, on its event loops), with nothing of pyhost's server but its frames. Alone, it answers every
// request with a fixed body. Given a command, it starts one process per CPU running it, each
// with a Unix socket as its standard input, and hands every request's body to one of them, one
// call in flight per process and the rest queued, as pyhost's pool does: the cost of the
// crossing a sandboxed call must make, with no sandbox, no routing and no records.
//
//     http-floor PORT [COMMAND ARGUMENT...]
//
// Frames both ways are pyhost's worker frames, read and written here by PyHostWire's codec and
// in the process by pyhost's own Python channel code; a request's payload is its path, a
// newline, then its body.
let arguments = CommandLine.arguments
guard arguments.count >= 2, let port = Int(arguments[1]) else {
    print("usage: http-floor PORT [COMMAND ARGUMENT...]")
    exit(2)
}
let group = MultiThreadedEventLoopGroup.singleton
let relay = arguments.count > 2 ? try await Relay(command: Array(arguments.dropFirst(2)), group: group) : nil
let server = try await ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 256)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: false)
            try channel.pipeline.syncOperations.addHandler(Answerer(relay: relay))
        }
    }
    .bind(host: "127.0.0.1", port: port).get()
try await server.closeFuture.get()
