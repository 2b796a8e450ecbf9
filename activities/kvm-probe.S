/*
 * The KVM probe guest: one boot sector that makes the mode switches every PC boot loader makes
 * (real mode -> 32-bit protected mode, an interrupt and its iret there, a 16-bit protected
 * segment, back to real mode) and prints its progress on the first serial port:
 *
 *     R  real mode runs          P  protected mode and an iret ran
 *     r  back in real mode       relengotron-kvm-probe-ok  done
 *
 * Why not just start qemu with -accel kvm and quit: a /dev/kvm may open, create a VM and
 * still fail on the first guest instruction it has to emulate (seen on nested hosts without
 * unrestricted-guest support: "KVM internal error. Suberror: 1 ... emulation failure" at the
 * first iret in protected mode, exactly where syslinux and grub go). This guest reaches that
 * point in well under a second when KVM works.
 *
 * The bytes the probe boots are in activities/accelerator.ts; scripts/kvm-probe-bytes.sh
 * assembles this file and prints them (the accelerator test checks that they match).
 */
        .code16
        .globl _start
_start:
        cli
        xorw %ax, %ax
        movw %ax, %ds
        movw %ax, %es
        movw %ax, %ss
        movw $0x7c00, %sp
        movb $'R', %al
        call putc16
        lgdt gdtr
        movl %cr0, %eax
        orb $1, %al
        movl %eax, %cr0
        ljmpl $0x08, $pm32

        .code32
pm32:
        movw $0x10, %ax
        movw %ax, %ds
        movw %ax, %es
        movw %ax, %ss
        movl $0x7c00, %esp
        lidt idtr
        int $0x20                       /* the iret of its handler is where broken KVM stops */
        movb $'P', %al
        movw $0x3f8, %dx
        outb %al, %dx
        ljmp $0x18, $pm16

        .code16
pm16:
        movw $0x20, %ax
        movw %ax, %ds
        movw %ax, %es
        movw %ax, %ss
        movl %cr0, %eax
        andb $0xfe, %al
        movl %eax, %cr0
        ljmp $0, $rm16
rm16:
        xorw %ax, %ax
        movw %ax, %ds
        movw %ax, %ss
        movb $'r', %al
        call putc16
        movw $done, %si
1:      lodsb
        testb %al, %al
        jz 2f
        call putc16
        jmp 1b
2:      hlt
        jmp 2b

putc16:                                 /* COM1's data register; qemu needs no UART setup */
        movw $0x3f8, %dx
        outb %al, %dx
        ret

        .code32
isr:
        iret

        .code16
        .p2align 3
gdt:
        .quad 0
        .quad 0x00cf9a000000ffff        /* 0x08 code, 32-bit, flat */
        .quad 0x00cf92000000ffff        /* 0x10 data, 32-bit, flat */
        .quad 0x00009a000000ffff        /* 0x18 code, 16-bit, 64 KiB */
        .quad 0x000092000000ffff        /* 0x20 data, 16-bit, 64 KiB */
gdtr:
        .word gdtr - gdt - 1
        .long gdt
idt:
        .fill 0x20, 8, 0
        .word isr                       /* vector 0x20: a 32-bit interrupt gate to isr */
        .word 0x08
        .byte 0
        .byte 0x8e
        .word 0
idtr:
        .word idtr - idt - 1
        .long idt
done:
        .asciz "relengotron-kvm-probe-ok\n"
        .org 510
        .word 0xaa55
