; pxOS v1 shell, NASM edition.
;
; The same program as pxos_shell.pxs, written for NASM. It exists only so the
; tests can assemble the shell with an independent assembler and check that the
; primitive assembler produces the very same 512 bytes. Keep the two in step.
;
;   nasm -f bin -o pxos_shell.nasm.img boot/pxos_shell.asm

bits 16
org 0x7C00

buffer      equ 0x7E00          ; the line being typed, right after the boot sector
buffer_max  equ 70              ; fits on one line after the 9-character prompt

start:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7C00              ; the stack grows down from just below the boot sector
    sti
    cld

clear_screen:
    mov ax, 0x0003              ; set 80x25 text mode: clears the screen, cursor home
    int 0x10

prompt:
    mov si, msg_prompt
    call print
    mov di, buffer

read_key:
    xor ah, ah                  ; BIOS: wait for a key, AL = ASCII
    int 0x16
    cmp al, 0x0D
    je short enter
    cmp al, 0x08
    je short backspace
    cmp al, 0x20
    jb short read_key           ; other control keys and extended keys: ignored
    cmp di, buffer + buffer_max
    jae short read_key          ; line full
    stosb
    call putc
    jmp short read_key

backspace:
    cmp di, buffer
    je short read_key           ; nothing to erase
    dec di
    mov si, msg_backspace
    call print
    jmp short read_key

enter:
    mov byte [di], 0
    mov si, msg_newline
    call print
    mov si, buffer
    cmp byte [si], 0
    je short prompt             ; empty line: just a new prompt
    mov di, word_help
    call match
    je short do_help
    mov di, word_cls
    call match
    je short clear_screen
    mov di, word_echo
    call match
    je short do_echo
    mov si, msg_unknown
    call print
    mov si, buffer
do_echo:
    call print
    mov si, msg_newline
    call print
    jmp short prompt

do_help:
    mov si, msg_help
    call print
    jmp short prompt

; match: does the line at SI start with the word at DI, followed by the end of
; the line or a space? ZF=1 if so, with SI just past the word and its space;
; ZF=0 if not, with SI unchanged.
match:
    push si
match_next:
    mov al, [di]
    test al, al
    jz short match_end
    cmp al, [si]
    jne short match_fail
    inc si
    inc di
    jmp short match_next
match_end:
    mov al, [si]
    test al, al
    jz short match_ok
    cmp al, ' '
    jne short match_fail
    inc si
    cmp al, al                  ; inc cleared ZF: set it again
match_ok:
    pop ax                      ; drop the saved SI (pop leaves the flags alone)
    ret
match_fail:
    pop si
    ret

; print: write the zero-terminated string at SI with the BIOS teletype.
print:
    lodsb
    test al, al
    jz short print_done
    call putc
    jmp short print
print_done:
    ret

; putc: write AL at the cursor and advance it (scrolls at the bottom).
putc:
    mov ah, 0x0E
    mov bx, 0x0007              ; page 0, light grey on black
    int 0x10
    ret

msg_prompt:     db "pxOS v1> ", 0
msg_backspace:  db 8, " ", 8, 0
msg_newline:    db 13, 10, 0
msg_help:       db "commands: help, cls, echo TEXT", 13, 10, 0
msg_unknown:    db "unknown command: ", 0
word_help:      db "help", 0
word_cls:       db "cls", 0
word_echo:      db "echo", 0

    times 510 - ($ - $$) db 0
    dw 0xAA55
