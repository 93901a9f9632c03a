package io.bundlevisor.vhost;

import java.nio.file.Path;
import java.util.Objects;

/**
 * A vhost-user back-end as it is at one instant.
 *
 * @param socket      the Unix socket it listens on
 * @param type        the device type it serves
 * @param connected   whether a front-end is connected now
 * @param connections front-ends served so far
 * @param lastEnd     why the last front-end's connection ended, or empty
 */
public record VhostBackendInfo(Path socket, String type, boolean connected, long connections, String lastEnd) {

    public VhostBackendInfo {
        Objects.requireNonNull(socket, "socket");
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(lastEnd, "lastEnd");
    }
}
