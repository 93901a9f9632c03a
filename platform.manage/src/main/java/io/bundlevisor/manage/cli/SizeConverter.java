package io.bundlevisor.manage.cli;

import io.bundlevisor.core.partition.MachineConfig;

import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/** A size as people type it ({@link MachineConfig#parseSize}): {@code 512M}, {@code 1.5G}, {@code 2GiB}. */
final class SizeConverter implements ITypeConverter<Long> {

    @Override
    public Long convert(String value) {
        try {
            return MachineConfig.parseSize(value);
        } catch (IllegalArgumentException e) {
            throw new TypeConversionException(e.getMessage());
        }
    }
}
