/**
 * Serving device bundles' devices to other VMMs over vhost-user: a {@link io.bundlevisor.vhost.VhostService} starts
 * and stops back-ends on Unix sockets and lists them as {@link io.bundlevisor.vhost.VhostBackendInfo} records.
 */
@Export
@Version("1.1.0")
package io.bundlevisor.vhost;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
