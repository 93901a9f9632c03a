/**
 * The platform's system-call layer: libc functions and raw system calls as FFM downcalls with errno captured, and
 * the unchecked views of memory (the whole address space, mappings placed over others) the platform builds its
 * checked ones from. For platform bundles only, said twice: in OSGi, importers must ask for it with
 * {@code platform=true} (a mandatory attribute), so a device bundle cannot resolve it by accident; as a JPMS module,
 * it is exported to the platform's modules alone ({@code exports ... to}).
 */
@Export(attribute = {"platform=true", "mandatory:=platform"})
@ExportTo({"io.bundlevisor.platform.kvm", "io.bundlevisor.platform.vhost"})
@Version("1.6.0")
package io.bundlevisor.uring.sys;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;

import aQute.bnd.annotation.jpms.ExportTo;
