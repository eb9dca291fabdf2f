#define _GNU_SOURCE
#include <stdio.h>
#include <pthread.h>
#include <sys/mman.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static char*P;static size_t N;
static void*touch(void*a){size_t id=(size_t)a;for(size_t i=id*N/2;i<(id+1)*N/2;i+=4096)P[i]=1;return 0;}
int main(){N=(size_t)1<<30;
for(int h=0;h<2;h++)for(int th=1;th<=2;th++){P=mmap(0,N,PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0);if(h)madvise(P,N,MADV_HUGEPAGE);
double t=now();if(th==1){touch((void*)0);touch((void*)1);}else{pthread_t a,b;pthread_create(&a,0,touch,(void*)0);pthread_create(&b,0,touch,(void*)1);pthread_join(a,0);pthread_join(b,0);}
printf("huge=%d threads=%d: %.2f GB/s\n",h,th,N/1e9/(now()-t));munmap(P,N);}
P=mmap(0,N,PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS|MAP_POPULATE,-1,0);double t=now();munmap(P,N);
t=now();P=mmap(0,N,PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS|MAP_POPULATE,-1,0);printf("MAP_POPULATE: %.2f GB/s\n",N/1e9/(now()-t));}
