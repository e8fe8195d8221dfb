// What one guest-to-host notification costs on this host's KVM, for a guest at CPL3 as hvt
// runs it (issue 16, bench/WEB.md "Exitless rings"). A minimal VM loops N times over one
// instruction and reports wall and CPU time per iteration:
//   mmio       a store to an unbacked page: KVM_EXIT_MMIO to userspace and back (hvt's hypercall)
//   ioeventfd  the same store with KVM_IOEVENTFD on the address: the kernel signals an eventfd,
//              no return to userspace (hvt's NET_KICK)
//   cpuid      an exit the kernel handles itself: the floor of any exit
//   load       a load from the unbacked page (MMIO read exit)
//   pause      no exit at all
//   vmcall     (under KVM-PVM: #UD into the guest, which has no IDT here: a triple fault)
//   MODE+sleep after each exit the tender wakes a client process and sleeps in ppoll until the
//              client answers, as hvt's NET_EXCHANGE does at one connection (wrk -c1)
//   sleep      that ping-pong alone, no VM: what spt pays for it
// Run the +sleep modes on one CPU (`taskset -c 1`), as bench/web.py places wrk and the tender.
// Build and run (root, /dev/kvm):
//   cc -O2 -o /tmp/exit_cost bench/exit_cost/exit_cost.c && for m in mmio ioeventfd cpuid; do /tmp/exit_cost $m 20000; done
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <poll.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/wait.h>
static double cpu(void){struct rusage u;getrusage(RUSAGE_SELF,&u);return u.ru_utime.tv_sec+u.ru_stime.tv_sec+(u.ru_utime.tv_usec+u.ru_stime.tv_usec)*1e-6;}

#define MEM (4ull << 20)
#define HC 0x80000000ull
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static void die(const char*m){perror(m);exit(1);}
// The client of the +sleep modes: answers each byte on `to` with one on `from`.
static int to_client[2], from_client[2];
static void start_client(void){
  if(pipe(to_client)||pipe(from_client))die("pipe");
  if(fork()==0){  // ends when the tender does (its end of the pipe closes)
    close(to_client[1]); close(from_client[0]);
    char b; while(read(to_client[0],&b,1)==1) if(write(from_client[1],&b,1)!=1) break;
    _exit(0);
  }
  close(to_client[0]); close(from_client[1]);
}
static void ping_client(void){
  char b=1; if(write(to_client[1],&b,1)!=1)die("write");
  struct pollfd p={.fd=from_client[0],.events=POLLIN};
  struct timespec second={1,0};
  if(ppoll(&p,1,&second,NULL)!=1||read(from_client[0],&b,1)!=1)die("client");
}
int main(int argc,char**argv){
  const char*mode=argc>1?argv[1]:"mmio"; long n=argc>2?atol(argv[2]):20000;
  int sleeps=strstr(mode,"sleep")!=NULL;
  if(sleeps) start_client();
  char op[32]; snprintf(op,sizeof op,"%s",mode); if(strchr(op,'+')) *strchr(op,'+')=0;  // the instruction: MODE without +sleep
  if(!strcmp(mode,"sleep")){
    double t0=now(), c0=cpu();
    for(long k=0;k<n;k++) ping_client();
    double t=now()-t0, ct=cpu()-c0;
    printf("%-10s n=%ld  wall %.2f us/op cpu %.2f us/op (this process)\n",mode,n,t/n*1e6,ct/n*1e6);
    return 0;
  }
  int kvm=open("/dev/kvm",O_RDWR); int vm=ioctl(kvm,KVM_CREATE_VM,0); if(vm<0)die("vm");
  uint8_t*mem=mmap(0,MEM,PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0);
  struct kvm_userspace_memory_region r={.slot=0,.guest_phys_addr=0,.memory_size=MEM,.userspace_addr=(uint64_t)mem};
  if(ioctl(vm,KVM_SET_USER_MEMORY_REGION,&r))die("mem");
  uint64_t*pml4=(uint64_t*)(mem+0x1000),*pdpt=(uint64_t*)(mem+0x2000),*pd=(uint64_t*)(mem+0x3000),*pd2=(uint64_t*)(mem+0x4000);
  pml4[0]=0x2000|7; pdpt[0]=0x3000|7; pd[0]=0|0x87; pd[1]=0x200000|0x87;
  pdpt[2]=0x4000|7; pd2[0]=0x7000|7; ((uint64_t*)(mem+0x7000))[0]=HC|7;   // 0x80000000: 2MiB page, no memory behind it
  uint64_t*gdt=(uint64_t*)(mem+0x5000);
  gdt[1]=0x00af9b000000ffffull;gdt[2]=0x00cf93000000ffffull;gdt[3]=0x00cff3000000ffffull;gdt[4]=0x00affb000000ffffull;
  uint64_t tss=0x6000; gdt[5]=103|(tss&0xffff)<<16|((tss>>16)&0xff)<<32|0x8bull<<40; gdt[6]=0;
  *(uint64_t*)(mem+0x6000+4)=0x9000; *(uint16_t*)(mem+0x6000+102)=104;
  // code at 0x200000: loop n times { op }, then store to HC+8 (the "done" exit)
  uint8_t*c=mem+0x200000; int i=0;
  // rcx = n (set via regs). rbx = HC. loop:
  int loop=i;
  if(!strcmp(op,"cpuid")){ c[i++]=0x31;c[i++]=0xc0; c[i++]=0x0f;c[i++]=0xa2; c[i++]=0x48;c[i++]=0xbb;  // xor eax,eax; cpuid; mov rbx, HC
    for(int b=0;b<8;b++) c[i++]=(uint8_t)(HC>>(8*b)); }
  else if(!strncmp(op,"vmcall",6)){ c[i++]=0x0f;c[i++]=0x01;c[i++]=0xc1; }
  else if(!strcmp(op,"pause")){ c[i++]=0xf3;c[i++]=0x90; }
  else if(!strcmp(op,"load")){ c[i++]=0x48;c[i++]=0x8b;c[i++]=0x03; }
  else { c[i++]=0x48;c[i++]=0x89;c[i++]=0x03; }               // mov [rbx],rax
  // (cpuid clobbers rbx and rcx: the counter is r12)
  // dec r12; jnz loop
  c[i++]=0x49;c[i++]=0xff;c[i++]=0xcc; c[i++]=0x75; c[i]=(uint8_t)(loop-(i+1)); i++;
  c[i++]=0x49;c[i++]=0x89;c[i++]=0x07;                        // mov [r15],rax  (r15=HC+8)
  c[i++]=0xeb;c[i++]=0xfe;
  int vcpu=ioctl(vm,KVM_CREATE_VCPU,0); if(vcpu<0)die("vcpu");
  int sz=ioctl(kvm,KVM_GET_VCPU_MMAP_SIZE,0); struct kvm_run*run=mmap(0,sz,PROT_READ|PROT_WRITE,MAP_SHARED,vcpu,0);
  struct {struct kvm_cpuid2 h; struct kvm_cpuid_entry2 e[128];} cp={.h.nent=128};
  if(ioctl(kvm,KVM_GET_SUPPORTED_CPUID,&cp))die("cpuid");
  if(ioctl(vcpu,KVM_SET_CPUID2,&cp))die("setcpuid");
  struct kvm_sregs s; ioctl(vcpu,KVM_GET_SREGS,&s);
  s.cr3=0x1000; s.cr4=0x20|0x200|0x400; s.cr0=0x80050033; s.efer=0xd00;
  s.gdt.base=0x5000; s.gdt.limit=7*8-1;
  struct kvm_segment cs={.base=0,.limit=0xffffffff,.selector=0x23,.type=0xb,.present=1,.dpl=3,.s=1,.l=1,.g=1};
  struct kvm_segment ds={.base=0,.limit=0xffffffff,.selector=0x1b,.type=0x3,.present=1,.dpl=3,.db=1,.s=1,.g=1};
  s.cs=cs;s.ss=ds;s.ds=ds;s.es=ds;s.fs=ds;s.gs=ds;
  s.tr=(struct kvm_segment){.base=tss,.limit=103,.selector=0x28,.type=0xb,.present=1};
  s.ldt=(struct kvm_segment){.type=2,.unusable=1};
  if(ioctl(vcpu,KVM_SET_SREGS,&s))die("sregs");
  struct kvm_regs g={0}; g.rip=0x200000; g.rsp=0x300000; g.rflags=2; g.rbx=HC; g.r15=HC+8; g.r12=n;
  if(ioctl(vcpu,KVM_SET_REGS,&g))die("regs");
  int efd=-1;
  if(!strcmp(mode,"ioeventfd")){
    efd=eventfd(0,EFD_NONBLOCK);
    struct kvm_ioeventfd io={.addr=HC,.len=8,.fd=efd};
    if(ioctl(vm,KVM_IOEVENTFD,&io))die("ioeventfd");
  }
  if(!strcmp(mode,"vmcallxen")){
    struct kvm_xen_hvm_config x={.flags=KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL};
    printf("xen cap %d\n", ioctl(kvm,KVM_CHECK_EXTENSION,KVM_CAP_XEN_HVM));
    if(ioctl(vm,KVM_XEN_HVM_CONFIG,&x))die("xen");
  }
  long exits=0; double t0=now(), c0=cpu();
  for(;;){
    if(ioctl(vcpu,KVM_RUN,0))die("run");
    if(run->exit_reason==KVM_EXIT_MMIO){ if(run->mmio.phys_addr==HC+8)break; exits++; if(sleeps) ping_client(); continue;}
    if(run->exit_reason==KVM_EXIT_XEN){exits++;continue;}
    fprintf(stderr,"exit %d\n",run->exit_reason); ioctl(vcpu,KVM_GET_REGS,&g); fprintf(stderr,"rip %llx\n",g.rip); return 1;
  }
  double t=now()-t0, ct=cpu()-c0; uint64_t v=0; if(efd>=0) read(efd,&v,8);
  printf("%-10s n=%ld userspace exits=%ld eventfd=%llu  wall %.2f us/op cpu %.2f us/op\n",mode,n,exits,(unsigned long long)v,t/n*1e6,ct/n*1e6);
  return 0;
}
