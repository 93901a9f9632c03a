package io.bundlevisor.distro;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.stream.Stream;

/**
 * A device bundle as an update delivers it: the module's jar from this build, rewritten with another
 * {@code Bundle-Version} (its qualifier replaced), so that {@code update ID URL} installs a new revision with its own
 * class loader, as a release would.
 */
final class UpdatedBundle {

    private UpdatedBundle() {
    }

    /** {@code module}'s jar (e.g. {@code device.virtio-blk}) with the version qualifier {@code qualifier}, in dir. */
    static Path of(String module, String qualifier, Path dir) throws IOException {
        Path built;
        try (Stream<Path> s = Files.list(Path.of("..", module, "target"))) {
            built = s.filter(p -> p.getFileName().toString().matches(java.util.regex.Pattern.quote(module)
                    + "-[0-9][^-]*(-SNAPSHOT)?\\.jar")).findFirst()
                    .orElseThrow(() -> new IllegalStateException(module + "'s jar is not built"));
        }
        Path out = dir.resolve(module + "-" + qualifier + ".jar");
        try (JarFile in = new JarFile(built.toFile());
                OutputStream file = Files.newOutputStream(out)) {
            Manifest manifest = new Manifest(in.getManifest());
            Attributes main = manifest.getMainAttributes();
            String version = main.getValue("Bundle-Version");
            String[] parts = version.split("\\.");
            String base = parts[0] + "." + (parts.length > 1 ? parts[1] : "0") + "." + (parts.length > 2 ? parts[2] : "0");
            main.putValue("Bundle-Version", base + "." + qualifier);
            try (JarOutputStream jar = new JarOutputStream(file, manifest)) {
                for (JarEntry e : java.util.Collections.list(in.entries())) {
                    if (e.getName().equalsIgnoreCase(JarFile.MANIFEST_NAME) || e.getName().equalsIgnoreCase("META-INF/")) {
                        continue;
                    }
                    jar.putNextEntry(new JarEntry(e.getName()));
                    try (InputStream data = in.getInputStream(e)) {
                        data.transferTo(jar);
                    }
                    jar.closeEntry();
                }
            }
        }
        return out;
    }
}
