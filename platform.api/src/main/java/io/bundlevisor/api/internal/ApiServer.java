package io.bundlevisor.api.internal;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.unixdomain.server.UnixDomainServerConnector;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.Promise;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

import io.bundlevisor.uring.host.UnixSocket;

/**
 * Firecracker's API on a Unix socket (Jetty 12's Unix-domain connector): the socket is {@code 0600} before anyone can
 * reach it; a body is at most {@value #MAX_BODY} bytes, with a Content-Length, and read without holding a thread (a
 * client that never finishes its request holds only its connection, until {@value #IDLE_MILLIS} ms idle close it).
 */
final class ApiServer implements AutoCloseable {

    static final int MAX_BODY = 64 * 1024;
    static final long IDLE_MILLIS = 30_000;

    private final Path socket;
    private final Server server;
    private final ApiRoutes routes;

    private ApiServer(Path socket, Server server, ApiRoutes routes) {
        this.socket = socket;
        this.server = server;
        this.routes = routes;
    }

    /**
     * Serves {@code routes} on {@code socket}; a stale socket file is replaced, anything else there is refused.
     *
     * @throws IOException with one line
     */
    static ApiServer start(Path socket, ApiRoutes routes) throws IOException {
        try {
            UnixSocket.removeStale(socket);
        } catch (IOException e) {
            throw new IOException("--api-sock " + socket + ": " + e.getMessage(), e);
        }
        QueuedThreadPool threads = new QueuedThreadPool(8, 2);
        threads.setName("api " + socket.getFileName());
        Server server = new Server(threads);
        UnixDomainServerConnector connector = new UnixDomainServerConnector(server);
        // Bound under a temporary name, made 0600, then renamed into place: no client ever finds it open to others.
        Path bound = socket.resolveSibling("." + socket.getFileName() + "." + ProcessHandle.current().pid() + ".tmp");
        Files.deleteIfExists(bound);
        connector.setUnixDomainPath(bound);
        connector.setIdleTimeout(IDLE_MILLIS);
        connector.setAcceptQueueSize(128);
        server.addConnector(connector);
        // Blocking (the default): the answer may create a VM, so it runs on a pool thread, never a selector's.
        server.setHandler(new Handler.Abstract() {
            @Override
            public boolean handle(Request request, Response response, Callback callback) {
                long length = request.getLength();
                boolean chunked = request.getHeaders().contains(HttpHeader.TRANSFER_ENCODING);
                if (chunked) {
                    // As Firecracker's micro_http: a body has a Content-Length, so its size is known before reading.
                    reply(response, callback, ApiRoutes.Reply.fault("a body needs a Content-Length"));
                    return true;
                }
                if (length > MAX_BODY) {
                    reply(response, callback, ApiRoutes.Reply.fault("the body is " + length + " bytes; at most "
                            + MAX_BODY));
                    return true;
                }
                String method = request.getMethod();
                String path = Request.getPathInContext(request);
                // Read without holding a thread: a client that never sends its body costs a connection, not a thread.
                Content.Source.asString(request, StandardCharsets.UTF_8, new Promise<>() {
                    @Override
                    public void succeeded(String body) {
                        reply(response, callback, routes.handle(method, path, body));
                    }

                    @Override
                    public void failed(Throwable x) {
                        reply(response, callback, ApiRoutes.Reply.fault("the body cannot be read: " + x.getMessage()));
                    }
                });
                return true;
            }
        });
        try {
            server.start();
            Files.setPosixFilePermissions(bound, PosixFilePermissions.fromString("rw-------"));
            Files.move(bound, socket, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } catch (Exception e) {
            try {
                server.stop();
            } catch (Exception ignored) {
                // already failing
            }
            throw new IOException("--api-sock " + socket + ": " + e.getMessage(), e);
        }
        return new ApiServer(socket, server, routes);
    }

    private static void reply(Response response, Callback callback, ApiRoutes.Reply reply) {
        response.setStatus(reply.status());
        if (reply.json().isEmpty()) {
            callback.succeeded();
            return;
        }
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, reply.contentType());
        Content.Sink.write(response, true, reply.json(), callback);
    }

    @Override
    public void close() {
        routes.close();
        try {
            server.stop();
        } catch (Exception e) {
            // stopping: nothing to tell
        }
        try {
            Files.deleteIfExists(socket);
        } catch (IOException e) {
            // left behind: the next start replaces a stale socket
        }
    }
}
