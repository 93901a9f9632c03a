package io.bundlevisor.manage.cli;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

import picocli.CommandLine.IVersionProvider;

/**
 * {@code --version}: {@code Bundlevisor vX.Y.Z} on the first line (as Firecracker's, which orchestrators such as Kata
 * Containers parse: the second word, a semantic version after its {@code v}), then the Java and the kernel.
 */
public final class Versions implements IVersionProvider {

    /** The project's version, as the build recorded it. */
    public static String bundlevisor() {
        Properties p = new Properties();
        try (InputStream in = Versions.class.getResourceAsStream("/io/bundlevisor/manage/launch/version.properties")) {
            if (in != null) {
                p.load(in);
            }
        } catch (IOException e) {
            // Unknown below.
        }
        return p.getProperty("version", "unknown");
    }

    @Override
    public String[] getVersion() {
        return new String[] {
            "Bundlevisor v" + bundlevisor(),
            "Java " + System.getProperty("java.version") + " (" + System.getProperty("java.vm.name") + "), "
                    + System.getProperty("os.name") + " " + System.getProperty("os.version") + " "
                    + System.getProperty("os.arch")
        };
    }
}
