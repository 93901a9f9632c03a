/**
 * The platform's system-call layer: libc functions and raw system calls as FFM downcalls with errno captured.
 * Exported to platform bundles only — importers must ask for it with {@code platform=true} (a mandatory
 * attribute set in this bundle's bnd.bnd), so device bundles cannot reach native code by accident.
 */
@Version("1.3.0")
package io.bundlevisor.uring.sys;

import org.osgi.annotation.versioning.Version;
